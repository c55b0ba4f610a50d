"""Correlation of call replies: one reply address per transport, one waiter per call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from rpcmsg import _sync, _wire
from rpcmsg._remote import deserialize_failure
from rpcmsg.driver.base import Driver, ReplyConsumer
from rpcmsg.exceptions import MessagingTimeout

__all__ = ["ReplyWaiter"]

LOG = logging.getLogger(__name__)


class ReplyWaiter:
    """Routes replies arriving at the transport's reply address to the calls awaiting them.

    The reply consumer is opened on the first call. Replies for calls no longer waiting
    (timed out) are dropped with a debug log.
    """

    def __init__(self, driver: Driver, allowed_remote_exmods: Iterable[str]) -> None:
        self._driver = driver
        self._allowed = frozenset(allowed_remote_exmods)
        self._lock = threading.Lock()
        self._consumer: ReplyConsumer | None = None
        self._waiters: dict[str, Any] = {}

    @property
    def address(self) -> str:
        consumer = self._consumer
        if consumer is None:
            with self._lock:
                if self._consumer is None:
                    self._consumer = self._driver.open_reply_consumer(self._on_reply)
                consumer = self._consumer
        return consumer.address

    def register(self, msg_id: str) -> Any:
        """Start collecting replies for ``msg_id``; returns the queue they go to."""
        q = _sync.new_queue()
        self._waiters[msg_id] = q
        return q

    def unregister(self, msg_id: str) -> None:
        self._waiters.pop(msg_id, None)

    def _on_reply(self, body: bytes, content_type: str) -> None:
        try:
            message = _wire.decode(body)
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
        pending: Any = None
        while True:
            limits = [t for t in (deadline, monitor) if t is not None]
            wait_for = max(0.0, min(limits) - time.monotonic()) if limits else None
            try:
                message = q.get(timeout=wait_for)
            except _sync.Empty:
                reason = (
                    "no keep-alive from the server within the call monitor timeout"
                    if monitor is not None and (deadline is None or monitor < deadline)
                    else "timed out"
                )
                raise MessagingTimeout(
                    f"Timed out waiting for a reply to message ID {msg_id} ({reason})"
                ) from None
            failure = message.get("failure")
            if failure:
                raise deserialize_failure(failure, self._allowed)
            result = message.get("result")
            if message.get("ending", True) is False:
                # A keep-alive, or (from old servers) a result sent ahead of its ending.
                if result is not None:
                    pending = result
                if call_monitor_timeout:
                    monitor = time.monotonic() + call_monitor_timeout
                continue
            return pending if result is None else result

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
