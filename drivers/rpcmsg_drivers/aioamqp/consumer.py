"""A consuming connection kept by one task of the event loop, which survives broker failures.

Deliveries reach ``on_message`` in the loop (aiormq's channel reader calls it), with the
*generation* of the connection they came on, so that settling a message from an older
connection is skipped: the broker requeued it when that connection died.

The keeping task waits for the connection or its channel to close, or for RabbitMQ to
cancel a consumer (its queue was deleted, or failed over with
``enable_cancel_on_failover``: consumer cancel notifications). It then waits
``kombu_reconnect_delay`` plus up to ``kombu_reconnect_splay`` random seconds, reconnects
(failing over between hosts with the sync driver's backoff, for ever until closed), declares
its queues again and consumes again. Stream queues (``rabbit_stream_fanout``) are consumed
from offset ``last`` at first, then after a reconnection from the offset after the last
message received; a cancelled stream consumer starts at ``last`` again, as in the sync
driver.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiormq.abc
from pamqp.commands import Basic

from rpcmsg.driver import note_reconnect
from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from rpcmsg_drivers.aioamqp.connection import (
    AsyncConnector,
    background,
    close_quietly,
    timeout_at,
)
from rpcmsg_drivers.aioamqp.declare import declare_queue
from rpcmsg_drivers.aioamqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS, LINK_ERRORS
from rpcmsg_drivers.amqp.errors import translate
from rpcmsg_drivers.amqp.topology import Queue, qos_windows

__all__ = ["AsyncConsumer", "OnMessage"]

LOG = logging.getLogger(__name__)

#: Called in the loop with each delivery and the generation of its connection; never blocks.
OnMessage = Callable[[aiormq.abc.DeliveredMessage, int], None]

_START_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    MessagingTimeout,
    TransportDriverError,
    *CONNECTION_ERRORS,
    *CHANNEL_ERRORS,
)

#: Bound of declaring and consuming again on a new connection (a broker that stalls).
SETUP_TIMEOUT = 10.0
#: Bound of the final work (cancel, delete) when closing.
CLOSE_TIMEOUT = 2.0


class AsyncConsumer:
    """Consumes ``queues`` on one connection; see the module docstring."""

    def __init__(
        self,
        connector: AsyncConnector,
        queues: Sequence[Queue],
        on_message: OnMessage,
        *,
        no_ack: bool,
        prefetch: int,
        name: str,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._connector = connector
        self._queues = list(queues)
        self._on_message = on_message
        self._on_lost = on_lost
        self._no_ack = no_ack
        self._prefetch = prefetch
        self._name = name
        self._conn: aiormq.abc.AbstractConnection | None = None
        #: The consuming channel, None while reconnecting.
        self.channel: aiormq.abc.AbstractChannel | None = None
        self.generation = 0
        self._tags: list[str] = []
        self._offsets: dict[str, int] = {}
        self._lost: asyncio.Future[str] | None = None
        self._connected_once = False
        self._closing = False
        self._task: asyncio.Future[Any] | None = None

    # -- life cycle --------------------------------------------------------------------

    async def start(self, *, deadline: float | None = None, background_retry: bool = False) -> None:
        """Connect, declare and consume (trying each host once, by ``deadline``), then keep
        the connection in a task. When that fails, raises ``TransportDriverError`` (or
        ``MessagingTimeout``), or with ``background_retry`` leaves the task to keep trying.
        """
        try:
            async with timeout_at(deadline):
                await self._setup(await self._connector.open_round(deadline))
        except _START_ERRORS as exc:
            await self._drop()
            if not background_retry:
                if isinstance(exc, (TimeoutError, MessagingTimeout)):
                    raise MessagingTimeout(f"Timed out consuming for {self._name}") from exc
                if isinstance(exc, TransportDriverError):
                    raise
                raise translate(exc, f"declaring the queues of {self._name}") from exc
            LOG.warning("%s: RabbitMQ unreachable (%r); retrying meanwhile", self._name, exc)
        self._task = background(self._keep())

    async def cancel(self) -> None:
        """Stop the broker from delivering more messages (those held stay settleable)."""
        channel, tags, self._tags = self.channel, self._tags, []
        if channel is None or channel.is_closed:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                for tag in tags:
                    await channel.basic_cancel(tag)
        except LINK_ERRORS as exc:
            LOG.debug("%s: could not cancel consuming: %r", self._name, exc)

    async def close(
        self, final: Callable[[aiormq.abc.AbstractChannel], Awaitable[Any]] | None = None
    ) -> None:
        """Stop keeping the connection, run ``final`` on the channel, close the connection.

        Messages consumed and not acknowledged go back to their queues (the broker requeues
        them when the connection closes).
        """
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        channel = self.channel
        if final is not None and channel is not None and not channel.is_closed:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await final(channel)
            except LINK_ERRORS as exc:
                LOG.debug("%s: could not finish before closing: %r", self._name, exc)
        await self._drop()

    # -- the connection ----------------------------------------------------------------

    async def _setup(self, conn: aiormq.abc.AbstractConnection) -> None:
        self._conn = conn
        self._connected_once = True
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        self._lost = lost

        def mark(why: str) -> Callable[[Any], None]:
            def done(_: Any) -> None:
                if not lost.done():
                    lost.set_result(why)

            return done

        conn.closing.add_done_callback(mark("connection closed"))
        channel = await conn.channel(publisher_confirms=False)
        channel.closing.add_done_callback(mark("channel closed"))

        def cancelled(frame: Basic.Cancel) -> None:
            if not lost.done():
                lost.set_result("consumer cancelled by RabbitMQ")

        channel.on_consumer_cancel_callbacks.add(cancelled)
        if self._prefetch > 0:  # one window over all the queues, as the sync consumer
            for count, shared in qos_windows(self._queues, self._prefetch):
                await channel.basic_qos(prefetch_count=count, global_=shared)
        for queue in self._queues:
            await declare_queue(channel, queue)
        self.channel = channel
        self._tags = []
        for queue in self._queues:
            ok = await channel.basic_consume(
                queue.name,
                self._callback(queue, self.generation),
                no_ack=self._no_ack,
                arguments=self._consume_arguments(queue),
            )
            assert ok.consumer_tag is not None
            self._tags.append(ok.consumer_tag)

    def _consume_arguments(self, queue: Queue) -> dict[str, Any] | None:
        arguments = dict(queue.consume_arguments)
        if queue.stream:
            arguments["x-stream-offset"] = self._offsets.get(queue.name, "last")
        return arguments or None

    def _callback(
        self, queue: Queue, generation: int
    ) -> Callable[[aiormq.abc.DeliveredMessage], Coroutine[Any, Any, None]]:
        on_message = self._on_message
        if not queue.stream:

            async def deliver(message: aiormq.abc.DeliveredMessage) -> None:
                on_message(message, generation)

            return deliver
        name = queue.name

        async def deliver_stream(message: aiormq.abc.DeliveredMessage) -> None:
            headers = message.header.properties.headers or {}
            offset = headers.get("x-stream-offset")
            if isinstance(offset, int):
                self._offsets[name] = offset + 1
            on_message(message, generation)

        return deliver_stream

    async def _drop(self) -> None:
        conn, self._conn, self.channel, self._tags = self._conn, None, None, []
        await close_quietly(conn)

    async def _keep(self) -> None:
        """The keeping task: reconnect whenever the connection or the consumer is lost."""
        while not self._closing:
            lost = self._lost
            if self.channel is None or lost is None:
                if not await self._reconnect(delay=self._connected_once):
                    return
                continue
            why = await lost
            if self._closing:
                return
            LOG.warning("%s: %s; consuming again", self._name, why)
            note_reconnect("rabbit")
            if why.startswith("consumer cancelled") and self._offsets:
                LOG.warning("%s: stream offsets reset to last", self._name)
                self._offsets.clear()
            self.generation += 1
            await self._drop()
            if self._on_lost is not None:
                self._on_lost()

    async def _reconnect(self, delay: bool) -> bool:
        """Open a new connection and consume again (first waiting the reconnect delay when
        ``delay``); False when closed meanwhile."""
        if delay:
            await asyncio.sleep(self._connector.hosts.reconnect_delay())
        while not self._closing:
            try:
                conn = await self._connector.open()
            except TransportDriverError:
                return False
            try:
                async with asyncio.timeout(SETUP_TIMEOUT):
                    await self._setup(conn)
                LOG.info("%s: consuming again", self._name)
                return True
            except LINK_ERRORS as exc:
                LOG.warning("%s: could not consume again (%r)", self._name, exc)
                await self._drop()
                await asyncio.sleep(self._connector.settings.rabbit_retry_interval)
        return False
