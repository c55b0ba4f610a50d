"""Publishing: one aiormq connection per transport, shared by every sending coroutine.

aiormq multiplexes: each publish is queued whole (method, header and body frames as one
unit) on the connection's writer, so concurrent senders never interleave frames and need no
pool. Two channels, opened on demand: *plain* (call requests: no confirms, as in the sync
driver and oslo.messaging) and *confirm* (casts, fanout casts, notifications, mandatory
sends and replies): each publish there awaits the broker's ack, so ``send`` returns once
RabbitMQ has the message. Concurrent senders pipeline on the connection; there is no window
to drain at close (``rabbit_confirm_window`` is a sync-driver option).

The connection is opened by one shared task (a round over the URL's hosts, each host at
most ``CONNECT_TIMEOUT``): a sender cancelled or out of time stops waiting for it without
cancelling it for the others. A connection that fails (or stays silent for a whole attempt)
is dropped; the next send opens another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiormq
import aiormq.abc
from pamqp.commands import Basic

from rpcmsg.driver import note_reconnect
from rpcmsg.exceptions import (
    MessageDeliveryFailure,
    MessageUndeliverable,
    MessagingTimeout,
    TransportDriverError,
)
from rpcmsg_drivers.aioamqp.connection import (
    AsyncConnector,
    background,
    close_quietly,
    left,
    timeout_at,
)
from rpcmsg_drivers.aioamqp.declare import declare_exchange, declare_queue
from rpcmsg_drivers.aioamqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS
from rpcmsg_drivers.amqp.errors import translate
from rpcmsg_drivers.amqp.publisher import STALL_WITHOUT_HEARTBEATS
from rpcmsg_drivers.amqp.replies import RETRY_EVERY
from rpcmsg_drivers.amqp.topology import Exchange, Queue

__all__ = ["PLAIN", "CONFIRM", "AsyncPublisher"]

LOG = logging.getLogger(__name__)

PLAIN = "plain"
CONFIRM = "confirm"

_CONNECT_FAILED: tuple[type[BaseException], ...] = (TransportDriverError, *CONNECTION_ERRORS)


class _Stalled(Exception):
    """One attempt without a deadline outlived the stall bound: the link is dead."""


_ATTEMPT_FAILED: tuple[type[BaseException], ...] = (_Stalled, *_CONNECT_FAILED)
_REDELIVERY_FAILED: tuple[type[BaseException], ...] = (
    aiormq.DeliveryError,
    *_ATTEMPT_FAILED,
    *CHANNEL_ERRORS,
)


class AsyncPublisher:
    """Sends messages for one transport; see the module docstring."""

    def __init__(self, connector: AsyncConnector) -> None:
        self._connector = connector
        s = connector.settings
        self._conn: aiormq.abc.AbstractConnection | None = None
        self._connecting: asyncio.Future[aiormq.abc.AbstractConnection] | None = None
        self._channels: dict[str, aiormq.abc.AbstractChannel] = {}
        self._locks = {PLAIN: asyncio.Lock(), CONFIRM: asyncio.Lock()}
        self._declared: set[Any] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._closed = False
        #: Replies whose queue is missing are sent again for this long (None: dropped).
        self._returns_for = (
            float(s.kombu_missing_consumer_retry_timeout) if s.direct_mandatory_flag else None
        )
        threshold = s.heartbeat
        self._stall = float(threshold if threshold > 0 else STALL_WITHOUT_HEARTBEATS)

    # -- connection and channels -------------------------------------------------------

    async def _connection(self) -> aiormq.abc.AbstractConnection:
        conn = self._conn
        if conn is not None and not conn.is_closed:
            return conn
        if self._closed:
            raise TransportDriverError("The transport is closed")
        task = self._connecting
        if task is None or task.done():
            task = self._connecting = background(self._open(), self._tasks)
        return await asyncio.shield(task)

    async def _open(self) -> aiormq.abc.AbstractConnection:
        conn = await self._connector.open_round()
        if self._closed:
            await close_quietly(conn)
            raise TransportDriverError("The transport is closed")
        self._conn, self._channels, self._declared = conn, {}, set()
        return conn

    async def _channel(self, kind: str) -> aiormq.abc.AbstractChannel:
        channel = self._channels.get(kind)
        if channel is not None and not channel.is_closed:
            return channel
        async with self._locks[kind]:
            conn = await self._connection()
            channel = self._channels.get(kind)
            if channel is None or channel.is_closed:
                channel = await conn.channel(publisher_confirms=kind == CONFIRM)
                self._channels[kind] = channel
            return channel

    def _reset(self, conn: aiormq.abc.AbstractConnection | None) -> None:
        """Drop a connection that failed (if it is still ours); the next send reconnects."""
        if conn is not None and conn is self._conn:
            self._conn, self._channels, self._declared = None, {}, set()
        if conn is not None:
            background(close_quietly(conn), self._tasks)

    async def _declare(
        self, channel: aiormq.abc.AbstractChannel, exchange: Exchange, queue: Queue | None
    ) -> None:
        if queue is not None:
            if queue not in self._declared:
                await declare_queue(channel, queue)
                self._declared.update((queue, queue.exchange))
        elif exchange.name and exchange not in self._declared:
            await declare_exchange(channel, exchange)
            self._declared.add(exchange)

    # -- publishing --------------------------------------------------------------------

    async def publish(
        self,
        exchange: Exchange,
        routing_key: str,
        body: bytes,
        properties: Basic.Properties,
        *,
        confirm: bool = False,
        mandatory: bool = False,
        retry: int | None = None,
        deadline: float | None = None,
        queue: Queue | None = None,
        returnable: bool = False,
    ) -> None:
        """Publish ``body``; with ``queue``, declare it first (once per connection).

        ``confirm``: return once RabbitMQ acknowledged it (a nack is retried like a
        connection failure). ``mandatory``: raise ``MessageUndeliverable`` when no queue took
        it (a nack raises ``MessageDeliveryFailure``). ``returnable`` (replies): published
        mandatory on the confirm channel, returning once its frames are queued (the broker's
        verdict is awaited by a task, so a server's reply costs it no round trip); one that no
        queue took is sent again in the background for
        ``kombu_missing_consumer_retry_timeout`` seconds. Retries as ``retry`` allows, within
        ``deadline`` (``MessagingTimeout`` past it); raises ``TransportDriverError`` when
        the retries are used up.
        """
        returnable = returnable and self._returns_for is not None
        kind = CONFIRM if confirm or mandatory or returnable else PLAIN
        failures = 0
        redeclared = False
        while True:
            conn = self._conn
            connected = conn is not None and not conn.is_closed
            try:
                await self._attempt(
                    kind, exchange, routing_key, body, properties, mandatory or returnable,
                    deadline, queue, detach=returnable,
                )  # fmt: skip
                return
            except aiormq.PublishError as exc:
                if returnable:
                    self._send_again(routing_key, body, properties)
                    return
                raise MessageUndeliverable(None, exchange.name, routing_key, None) from exc
            except aiormq.DeliveryError as exc:  # a nack
                if mandatory:
                    raise MessageDeliveryFailure(f"RabbitMQ refused the message: {exc}") from exc
                error: BaseException = exc
            except CHANNEL_ERRORS as exc:
                self._declared = set()
                if isinstance(exc, aiormq.ChannelNotFoundEntity) and not redeclared:
                    redeclared = True  # an auto-delete exchange vanished: declare again
                    continue
                raise translate(exc, f"publishing to {exchange.name!r}") from exc
            except TimeoutError as exc:
                raise MessagingTimeout("Timed out sending to RabbitMQ") from exc
            except _ATTEMPT_FAILED as exc:
                self._reset(self._conn)
                error = exc
            failures += 1
            remaining = left(deadline)
            if remaining is not None and remaining <= 0:
                raise MessagingTimeout("Timed out sending to RabbitMQ") from error
            if retry is not None and 0 <= retry < failures:
                if isinstance(error, TransportDriverError):
                    raise error
                raise translate(error, f"publishing to {exchange.name!r}") from error
            LOG.info("Publishing failed (%r); trying again", error)
            note_reconnect("rabbit")
            if not connected:  # the broker was unreachable: back off before the next round
                delay = self._connector.hosts.round_delay(failures - 1)
                if remaining is not None and remaining <= delay:
                    await asyncio.sleep(remaining)
                    raise MessagingTimeout("Timed out sending to RabbitMQ") from error
                await asyncio.sleep(delay)

    async def _attempt(
        self,
        kind: str,
        exchange: Exchange,
        routing_key: str,
        body: bytes,
        properties: Basic.Properties,
        mandatory: bool,
        deadline: float | None,
        queue: Queue | None,
        detach: bool = False,
    ) -> None:
        """One try, ending by ``deadline`` (``TimeoutError``) or, without one, within the
        stall bound once connected (``_Stalled``). ``detach``: the publish and its confirm
        run in a task; only getting the channel is waited for."""
        async with timeout_at(deadline):
            channel = await self._channel(kind)
            stall = None if deadline is not None else time.monotonic() + self._stall
            bound = timeout_at(stall)
            try:
                async with bound:
                    await self._declare(channel, exchange, queue)
                    if detach:
                        self._detach(channel, routing_key, body, properties)
                        return
                    await channel.basic_publish(
                        body,
                        exchange=exchange.name,
                        routing_key=routing_key,
                        properties=properties,
                        mandatory=mandatory,
                    )
            except TimeoutError:
                if bound.expired():
                    raise _Stalled() from None
                # The deadline passed mid-publish: the link may be stuck (a broker that
                # stopped reading); the next send opens a fresh one, as the sync driver.
                self._reset(channel.connection)
                raise

    def _detach(
        self,
        channel: aiormq.abc.AbstractChannel,
        routing_key: str,
        body: bytes,
        properties: Basic.Properties,
    ) -> None:
        async def publish() -> None:
            try:
                async with asyncio.timeout(self._stall):
                    await channel.basic_publish(
                        body, routing_key=routing_key, properties=properties, mandatory=True
                    )
            except aiormq.PublishError:
                self._send_again(routing_key, body, properties)
            except _REDELIVERY_FAILED as exc:
                LOG.info("A reply to %s may be lost: %r", routing_key, exc)

        background(publish(), self._tasks)

    def _send_again(self, routing_key: str, body: bytes, properties: Basic.Properties) -> None:
        LOG.debug("Reply queue %s missing; sending the reply again", routing_key)
        background(self._redeliver(routing_key, body, properties), self._tasks)

    async def _redeliver(self, routing_key: str, body: bytes, properties: Basic.Properties) -> None:
        """Send a returned reply again every ``RETRY_EVERY`` seconds until a queue takes it
        or ``kombu_missing_consumer_retry_timeout`` has passed (then drop it, with an error
        log), as the sync driver and oslo.messaging do."""
        assert self._returns_for is not None
        give_up = time.monotonic() + self._returns_for
        while time.monotonic() < give_up:
            await asyncio.sleep(RETRY_EVERY)
            try:
                await self._attempt(
                    CONFIRM, Exchange(""), routing_key, body, properties, True, None, None
                )
                return
            except aiormq.PublishError:
                continue
            except _REDELIVERY_FAILED as exc:
                LOG.info("Could not send a reply again yet (%r)", exc)
                if not isinstance(exc, aiormq.PublishError):
                    self._reset(self._conn)
        LOG.error(
            "A reply could not be delivered for %d seconds: its reply queue %s is missing. "
            "Abandoning it.",
            self._returns_for,
            routing_key,
        )

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        conn, self._conn = self._conn, None
        await close_quietly(conn)
