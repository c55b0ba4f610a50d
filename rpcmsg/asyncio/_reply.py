"""Correlation of async call replies: one reply address per transport, one future per call.

The driver pushes every reply to :meth:`AsyncReplyWaiter._on_reply` in the event loop; it is
routed by ``_msg_id`` to the call's future with no lock (everything runs on the one loop).
A call's deadline and call monitor are one timer handle: a keep-alive only moves the monitor
deadline forward, and the timer, when it fires early, sets itself again for the later one.
The reading of replies (keep-alives, failures, results) is :class:`rpcmsg._calls.ReplyReader`,
the sync client's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from rpcmsg import _calls, _wire
from rpcmsg.driver.aio import AsyncDriver, AsyncReplyConsumer

__all__ = ["AsyncReplyWaiter"]

LOG = logging.getLogger("rpcmsg._reply")


class _Call:
    __slots__ = ("deadline", "future", "monitor", "monitor_timeout", "msg_id", "reader", "timer")

    def __init__(
        self,
        msg_id: str,
        future: asyncio.Future[Any],
        reader: _calls.ReplyReader,
        deadline: float | None,
        monitor_timeout: float | None,
        now: float,
    ) -> None:
        self.msg_id = msg_id
        self.future = future
        self.reader = reader
        self.deadline = deadline
        self.monitor_timeout = monitor_timeout
        self.monitor = None if not monitor_timeout else now + monitor_timeout
        self.timer: asyncio.TimerHandle | None = None

    def limit(self) -> float | None:
        if self.monitor is None:
            return self.deadline
        if self.deadline is None:
            return self.monitor
        return min(self.deadline, self.monitor)


class AsyncReplyWaiter:
    """Routes the replies reaching an async transport's reply address to waiting calls.

    The reply consumer is opened by the first call. Replies for calls no longer waiting
    (timed out, cancelled) are dropped with a debug log.
    """

    def __init__(self, driver: AsyncDriver, allowed_remote_exmods: Iterable[str]) -> None:
        self._driver = driver
        self._limit = _wire.max_size(getattr(driver, "conf", None))
        self._allowed = frozenset(allowed_remote_exmods)
        self._consumer: AsyncReplyConsumer | None = None
        self._opening: asyncio.Lock | None = None
        self._calls: dict[str, _Call] = {}

    @property
    def in_flight(self) -> int:
        """How many calls wait for their reply."""
        return len(self._calls)

    async def address_by(self, deadline: float | None) -> str:
        """The reply address, opening the consumer first (by ``deadline``)."""
        consumer = self._consumer
        if consumer is None:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self._consumer is None:
                    self._consumer = await self._driver.open_reply_consumer(
                        self._on_reply, deadline
                    )
                consumer = self._consumer
        return consumer.address

    def register(
        self, msg_id: str, deadline: float | None, call_monitor_timeout: float | None
    ) -> asyncio.Future[Any]:
        """Start waiting for ``msg_id``'s reply: the future gets the result, the remote
        exception, or ``MessagingTimeout`` at ``deadline`` (a ``time.monotonic()`` value) or
        when the call monitor runs out. :meth:`unregister` must follow, whatever happens."""
        loop = asyncio.get_running_loop()
        call = _Call(
            msg_id,
            loop.create_future(),
            _calls.ReplyReader(self._allowed),
            deadline,
            call_monitor_timeout,
            time.monotonic(),
        )
        limit = call.limit()
        if limit is not None:
            call.timer = loop.call_later(limit - time.monotonic(), self._expire, call)
        self._calls[msg_id] = call
        return call.future

    def unregister(self, msg_id: str) -> None:
        call = self._calls.pop(msg_id, None)
        if call is None:
            return
        if call.timer is not None:
            call.timer.cancel()
        future = call.future
        if future.done() and not future.cancelled():
            future.exception()  # retrieved: a timeout set while the send still ran

    def _expire(self, call: _Call) -> None:
        if call.future.done():
            return
        limit = call.limit()
        left = None if limit is None else limit - time.monotonic()
        if left is not None and left > 0:  # a keep-alive moved the monitor
            call.timer = call.future.get_loop().call_later(left, self._expire, call)
            return
        by_monitor = call.monitor is not None and (
            call.deadline is None or call.monitor < call.deadline
        )
        call.future.set_exception(_calls.timed_out(call.msg_id, by_monitor))

    def _on_reply(self, body: bytes, content_type: str) -> None:
        try:
            message = _wire.decode(body, self._limit)
            msg_id = message["_msg_id"]
            call = self._calls.get(msg_id)
        except (_wire.MalformedMessage, KeyError, TypeError) as exc:
            LOG.warning("Dropping a malformed reply: %s", exc)
            return
        if call is None or call.future.done():
            LOG.debug("Dropping a reply to %s: nobody waits for it any more", msg_id)
            return
        try:
            final = call.reader.feed(message)
        except Exception as exc:  # the remote failure, rebuilt
            call.future.set_exception(exc)
            return
        if final:
            call.future.set_result(call.reader.result)
        elif call.monitor_timeout:
            call.monitor = time.monotonic() + call.monitor_timeout

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        for call in list(self._calls.values()):
            if not call.future.done():
                call.future.cancel()
        if consumer is not None:
            await consumer.close()
