"""Async notification listeners: the sync listeners' subscription, parsing, filters, pools,
batches and requeue rules (:mod:`rpcmsg.notify.listener`), with endpoints that may be
``async def`` (run on the loop) or plain (run in the listener's thread pool).

A message is settled after its endpoints returned: acknowledged, or requeued when an
endpoint returned ``REQUEUE`` (or raised) and ``allow_requeue`` is set. A single listener
handles up to ``max_concurrency`` notifications at once; a batch listener delivers one
batch at a time (``batch_size`` messages, or what arrived within ``batch_timeout`` seconds
of the first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from rpcmsg import _observe
from rpcmsg.asyncio._server import AsyncServerBase, run_endpoint
from rpcmsg.asyncio._transport import AsyncTransport
from rpcmsg.driver.aio import AsyncIncomingMessage, AsyncListener
from rpcmsg.exceptions import InvalidTarget
from rpcmsg.notify import _format
from rpcmsg.notify.dispatcher import (
    PRIORITIES,
    BatchNotificationDispatcher,
    NotificationDispatcher,
    NotificationResult,
)
from rpcmsg.serializer import Serializer
from rpcmsg.target import Target

__all__ = [
    "BatchNotificationServer",
    "NotificationServer",
    "get_batch_notification_listener",
    "get_notification_listener",
]

LOG = logging.getLogger("rpcmsg.notify.listener")


class _Incoming:
    """A parsed notification (``ctxt``, ``message``) and its broker message."""

    __slots__ = ("ctxt", "message", "raw")

    def __init__(self, raw: AsyncIncomingMessage, ctxt: dict[str, Any], message: dict[str, Any]):
        self.raw = raw
        self.ctxt = ctxt
        self.message = message


class _NotificationServerBase(AsyncServerBase):
    dispatcher: NotificationDispatcher

    def __init__(
        self,
        transport: AsyncTransport,
        targets: Sequence[Target],
        dispatcher: NotificationDispatcher,
        allow_requeue: bool,
        pool: str | None,
        max_concurrency: int | None,
    ) -> None:
        if isinstance(targets, Target) or not all(isinstance(t, Target) for t in targets):
            raise TypeError("targets must be a list of Target objects")
        super().__init__(transport, dispatcher, max_concurrency)
        self.targets = targets
        self._allow_requeue = allow_requeue
        self._pool_name = pool

    async def _create_listener(self) -> AsyncListener:
        addresses = []
        for target in self.targets:
            if not target.topic:
                raise InvalidTarget("A target must have topic specified", target)
            exchange = self.transport._require_exchange(target.exchange)
            for priority in self.dispatcher.supported_priorities:
                addresses.append(Target(exchange=exchange, topic=f"{target.topic}.{priority}"))
        if not addresses:
            LOG.warning("No endpoint of this listener handles any priority; it gets nothing")
        return await self.transport.driver.listen_for_notifications(
            addresses, self._pool_name, capacity=self._capacity()
        )

    def _capacity(self) -> int:
        """How many notifications this listener handles at once (a prefetch window is sized
        from it)."""
        return self.max_concurrency

    async def _parse(self, raw: AsyncIncomingMessage) -> _Incoming | None:
        try:
            ctxt, message = _format.parse(raw.body, self.transport.max_message_size)
        except _format.MalformedMessage as exc:
            LOG.error("Dropping a malformed notification: %s (body %.200r)", exc, raw.body)
            await raw.reject()
            return None
        return _Incoming(raw, ctxt, message)

    async def _settle(self, incoming: _Incoming, requeue: bool) -> None:
        if requeue and self._allow_requeue:
            await incoming.raw.requeue()
            return
        if requeue:
            LOG.warning(
                "A notification endpoint asked to requeue (or raised) but this listener "
                "does not allow requeue; the message is acknowledged"
            )
        await incoming.raw.ack()

    async def _exec(self, callback: Callable[..., Any], *args: Any) -> Any:
        try:
            return await run_endpoint(self._executor, callback, *args)
        except Exception:
            LOG.exception("Callback raised an exception.")
            return NotificationResult.REQUEUE


class NotificationServer(_NotificationServerBase):
    """Delivers notifications one at a time to each endpoint, several concurrently."""

    async def _process(self, raw: AsyncIncomingMessage) -> None:
        incoming = await self._parse(raw)
        if incoming is None:
            return
        hooks = _observe.hooks
        if hooks is None:
            await self._handle(incoming)
        else:
            await hooks.aprocess_notifications(
                self, [incoming.message], [raw.redelivered], False, lambda: self._handle(incoming)
            )

    async def _handle(self, incoming: _Incoming) -> int:
        """Run the endpoints and settle; returns 1 when the message was given back."""
        requeue = False
        try:
            priority, _, user = self.dispatcher._extract_user_message(incoming)
            if priority not in PRIORITIES:
                LOG.warning('Unknown priority "%s"', priority)
            else:
                for callback in self.dispatcher.callbacks_for(priority, user):
                    args = (
                        user["ctxt"],
                        user["publisher_id"],
                        user["event_type"],
                        user["payload"],
                        user["metadata"],
                    )
                    if await self._exec(callback, *args) == NotificationResult.REQUEUE:
                        requeue = True
                        break
        except Exception:
            LOG.exception("Exception during message handling.")
            requeue = True
        await self._settle(incoming, requeue)
        return int(requeue)


class BatchNotificationServer(_NotificationServerBase):
    """Delivers notifications in batches, one batch at a time."""

    dispatcher: BatchNotificationDispatcher

    def __init__(
        self,
        transport: AsyncTransport,
        targets: Sequence[Target],
        dispatcher: BatchNotificationDispatcher,
        allow_requeue: bool,
        pool: str | None,
        batch_size: int | None,
        batch_timeout: float | None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if batch_timeout is not None and batch_timeout < 0:
            raise ValueError(f"batch_timeout must not be negative, not {batch_timeout}")
        super().__init__(transport, targets, dispatcher, allow_requeue, pool, 1)
        self.batch_size = batch_size or 1
        self.batch_timeout = batch_timeout

    def _capacity(self) -> int:
        # One batch at a time, but never a window smaller than the pool's: with quorum
        # queues each queue gets a share of it, and a share under the batch size would
        # never fill a batch.
        return max(self.batch_size, int(self.conf.executor_thread_pool_size))

    async def _process(self, raw: AsyncIncomingMessage) -> None:
        await self._process_batch([raw])

    async def _collect(self, listener: AsyncListener) -> list[AsyncIncomingMessage]:
        first = await listener.poll(None)
        if first is None:
            return []
        batch = [first]
        timeout = self.batch_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(batch) < self.batch_size:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            incoming = await listener.poll(left)
            if incoming is None:
                break  # the timeout passed, or the listener was stopped
            batch.append(incoming)
        return batch

    async def _consume(self, listener: AsyncListener) -> None:
        assert self._stopped is not None
        while not self._stopped.is_set():
            try:
                batch = await self._collect(listener)
            except Exception:
                LOG.exception("Listener failed to poll")
                await asyncio.sleep(0.1)
                continue
            if batch:
                try:
                    await self._process_batch(batch)
                except Exception:
                    LOG.exception("Unexpected error handling a batch of notifications")

    async def _process_batch(self, batch: list[AsyncIncomingMessage]) -> None:
        parsed = [await self._parse(raw) for raw in batch]
        good = [incoming for incoming in parsed if incoming is not None]
        if not good:
            return
        hooks = _observe.hooks
        if hooks is None:
            await self._handle_batch(good)
        else:
            await hooks.aprocess_notifications(
                self,
                [each.message for each in good],
                [each.raw.redelivered for each in good],
                True,
                lambda: self._handle_batch(good),
            )

    async def _handle_batch(self, good: list[_Incoming]) -> int:
        """Run the endpoints on a batch and settle each; returns how many were given back."""
        requeues: set[Any] = set()
        try:
            for raws, calls in self.dispatcher.plan(good):
                for callback, chosen in calls:
                    if await self._exec(callback, chosen) == NotificationResult.REQUEUE:
                        requeues.update(raws)
                        break
        except Exception:
            LOG.exception("Exception during messages handling.")
            requeues = set(good)
        for incoming in good:
            await self._settle(incoming, incoming in requeues)
        return sum(1 for incoming in good if incoming in requeues)


def get_notification_listener(
    transport: AsyncTransport,
    targets: Sequence[Target],
    endpoints: Sequence[Any],
    serializer: Serializer | None = None,
    allow_requeue: bool = False,
    pool: str | None = None,
    max_concurrency: int | None = None,
) -> NotificationServer:
    """An async listener delivering the notifications of ``targets`` to ``endpoints``;
    as :func:`rpcmsg.get_notification_listener` without ``executor``."""
    dispatcher = NotificationDispatcher(endpoints, serializer)
    return NotificationServer(transport, targets, dispatcher, allow_requeue, pool, max_concurrency)


def get_batch_notification_listener(
    transport: AsyncTransport,
    targets: Sequence[Target],
    endpoints: Sequence[Any],
    serializer: Serializer | None = None,
    allow_requeue: bool = False,
    pool: str | None = None,
    batch_size: int | None = None,
    batch_timeout: float | None = None,
) -> BatchNotificationServer:
    """Like :func:`get_notification_listener`, with endpoints receiving lists."""
    dispatcher = BatchNotificationDispatcher(endpoints, serializer)
    return BatchNotificationServer(
        transport, targets, dispatcher, allow_requeue, pool, batch_size, batch_timeout
    )
