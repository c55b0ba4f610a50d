"""Correlation of call replies: one reply address per transport, one waiter per call.

With a *polled* reply consumer (see :class:`~rpcmsg.driver.base.ReplyConsumer`) the waiting
callers read the replies themselves, taking turns (leader/follower): one caller at a time
polls the consumer and routes what arrives to the callers it belongs to; when its own reply
is in, it hands the turn to another waiting caller. A caller waiting alone thus reads its
reply from the broker in its own thread, with no hand-off between threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from rpcmsg import _calls, _sync, _wire
from rpcmsg.driver.base import Driver, ReplyConsumer

__all__ = ["ReplyWaiter"]

LOG = logging.getLogger(__name__)

#: Put in a waiting caller's queue: the turn to read replies is free, take it.
_TURN = object()

#: Longest single poll of the leader when its call has no time limit.
_POLL_SLICE = 5.0


class ReplyWaiter:
    """Routes replies arriving at the transport's reply address to the calls awaiting them.

    The reply consumer is opened on the first call. Replies for calls no longer waiting
    (timed out) are dropped with a debug log.
    """

    def __init__(self, driver: Driver, allowed_remote_exmods: Iterable[str]) -> None:
        self._driver = driver
        self._limit = _wire.max_size(getattr(driver, "conf", None))
        self._allowed = frozenset(allowed_remote_exmods)
        self._lock = threading.Lock()
        self._consumer: ReplyConsumer | None = None
        self._waiters: dict[str, Any] = {}
        # Polled consumers only, guarded by _lock: whether a caller is reading, and whether
        # close() was called.
        self._polled = False
        self._leading = False
        self._closed = False

    @property
    def address(self) -> str:
        return self.address_by(None)

    def address_by(self, deadline: float | None) -> str:
        """The reply address, opening the consumer first (by ``deadline``, a
        ``time.monotonic()`` value) when this is the transport's first call."""
        consumer = self._consumer
        if consumer is None:
            with self._lock:
                if self._consumer is None:
                    self._consumer = self._driver.open_reply_consumer(self._on_reply, deadline)
                    self._polled = self._consumer.polled
                    self._closed = False
                consumer = self._consumer
        return consumer.address

    def register(self, msg_id: str) -> Any:
        """Start collecting replies for ``msg_id``; returns the queue they go to."""
        q = _sync.new_queue()
        if self._polled:
            with self._lock:  # _pass_turn iterates the waiters
                self._waiters[msg_id] = q
        else:
            self._waiters[msg_id] = q
        return q

    def unregister(self, msg_id: str) -> None:
        if not self._polled:
            self._waiters.pop(msg_id, None)
            return
        with self._lock:
            q = self._waiters.pop(msg_id, None)
            # A turn handed to this caller after its reply came is passed on, not lost.
            turn = False
            while q is not None and not q.empty():
                turn = q.get_nowait() is _TURN or turn
            if turn and not self._leading:
                self._pass_turn()

    def _on_reply(self, body: bytes, content_type: str) -> None:
        try:
            message = _wire.decode(body, self._limit)
            msg_id = message["_msg_id"]
        except (_wire.MalformedMessage, KeyError, TypeError) as exc:
            LOG.warning("Dropping a malformed reply: %s", exc)
            return
        q = self._waiters.get(msg_id)
        if q is None:
            LOG.debug("Dropping a reply to %s: nobody waits for it any more", msg_id)
            return
        q.put(message)

    def wait(
        self,
        msg_id: str,
        q: Any,
        timeout: float | None,
        call_monitor_timeout: float | None,
    ) -> Any:
        """Block for the final reply; return its result or raise its failure.

        ``timeout`` bounds the whole call; ``call_monitor_timeout`` bounds the time between
        two signs of life (keep-alive replies) from the server. Either running out raises
        ``MessagingTimeout``.
        """
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        monitor = None if not call_monitor_timeout else now + call_monitor_timeout
        reader = _calls.ReplyReader(self._allowed)
        while True:
            limits = [t for t in (deadline, monitor) if t is not None]
            wait_for = max(0.0, min(limits) - time.monotonic()) if limits else None
            try:
                message = self._next(q, wait_for) if self._polled else q.get(timeout=wait_for)
            except _sync.Empty:
                by_monitor = monitor is not None and (deadline is None or monitor < deadline)
                raise _calls.timed_out(msg_id, by_monitor) from None
            if reader.feed(message):
                return reader.result
            if call_monitor_timeout:
                monitor = time.monotonic() + call_monitor_timeout

    def _next(self, q: Any, timeout: float | None) -> Any:
        """The next message for ``q``, reading replies in turn with the other waiting
        callers (polled consumers); raises ``_sync.Empty`` after ``timeout`` seconds.

        Whatever way it leaves (its message, its deadline, an error), a caller that may
        hold the turn makes sure another waiting caller reads when nobody does: a turn
        handed over just as the caller's deadline passes would otherwise be lost, and the
        replies of every other waiting caller left unread.
        """
        try:
            return self._take_turns(q, timeout)
        finally:
            with self._lock:
                if not self._leading and not self._closed:
                    self._pass_turn(exclude=q)

    def _take_turns(self, q: Any, timeout: float | None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not q.empty():
                item = q.get_nowait()
                if item is _TURN:
                    continue
                return item
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise _sync.Empty
            with self._lock:
                consumer = self._consumer
                lead = not self._leading and not self._closed and consumer is not None
                if lead:
                    self._leading = True
            if not lead:
                item = q.get(timeout=left)
                if item is _TURN:
                    continue
                return item
            assert consumer is not None
            failed = False
            try:
                while q.empty() and not self._closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    consumer.poll(_POLL_SLICE if left is None else min(left, _POLL_SLICE))
            except Exception:  # poll must not raise; never let it cost a caller its reply
                LOG.exception("Reply consumer failed to poll")
                failed = True
            finally:
                with self._lock:
                    self._leading = False
                    self._pass_turn(exclude=q)
            if failed:
                time.sleep(0.05)  # not a busy loop if it keeps failing

    def _pass_turn(self, exclude: Any = None) -> None:
        """Wake one waiting caller (not ``exclude``) to read replies. Holds ``_lock``."""
        for other in self._waiters.values():
            if other is not exclude:
                other.put(_TURN)
                return

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
            self._closed = True
        if consumer is not None:
            consumer.close()
