"""Replies whose reply queue is missing, sent again for a while (``direct_mandatory_flag``).

A caller's reply queue can be missing for a moment: its connection failed over and it has
not declared the queue again yet. Like oslo.messaging, a server then keeps trying to deliver
the reply for ``kombu_missing_consumer_retry_timeout`` seconds before it drops it with an
error log. Unlike oslo.messaging, the replying thread does not wait for that: replies are
published *mandatory* without waiting for the broker, RabbitMQ returns (basic.return) one
that no queue took, and the publisher's background thread sends the returned reply again
every quarter second until a queue takes it or the time is up. A reply sent again is
considered delivered when it has not come back within a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import amqp

__all__ = ["RETRY_EVERY", "ReturnedReplies"]

LOG = logging.getLogger(__name__)

#: Seconds between two attempts to deliver a returned reply (oslo.messaging's pause).
RETRY_EVERY = 0.25
#: A reply sent again and not returned within this many seconds reached its queue.
RETURN_WATCH = 1.0


@dataclass
class _Returned:
    routing_key: str
    message: amqp.Message
    first_returned: float
    next_attempt: float
    sent_at: float | None = None


class ReturnedReplies:
    """The replies RabbitMQ returned, awaiting their next attempt; thread-safe."""

    def __init__(self, timeout: float, wake: Callable[[], None]) -> None:
        self.timeout = timeout
        self._wake = wake
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, bytes], _Returned] = {}

    def on_return(self, exc: object, exchange: str, routing_key: str, message: object) -> None:
        """py-amqp's basic.return handler: note the reply, to send it again."""
        if exchange or not isinstance(message, amqp.Message):
            return  # only replies (default exchange) are published mandatory this way
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get((routing_key, body))
            if entry is None:
                properties = dict(message.properties)
                copy = amqp.Message(body, **properties)
                self._entries[(routing_key, body)] = _Returned(
                    routing_key, copy, now, now + RETRY_EVERY
                )
                LOG.debug("Reply queue %s missing; sending the reply again", routing_key)
            else:
                entry.sent_at = None
                entry.next_attempt = now + RETRY_EVERY
        self._wake()

    def busy(self) -> bool:
        return bool(self._entries)

    def due(self) -> list[tuple[tuple[str, bytes], str, amqp.Message]]:
        """The replies to send again now; forgets delivered ones and drops, with an error
        log, those returned for longer than ``timeout``."""
        now = time.monotonic()
        ready = []
        with self._lock:
            for key, entry in list(self._entries.items()):
                if entry.sent_at is not None:
                    if now - entry.sent_at >= RETURN_WATCH:
                        del self._entries[key]  # not returned again: delivered
                    continue
                if now < entry.next_attempt:
                    continue
                if now - entry.first_returned >= self.timeout:
                    del self._entries[key]
                    LOG.error(
                        "A reply could not be delivered for %d seconds: its reply queue %s "
                        "is missing. Abandoning it.",
                        self.timeout,
                        entry.routing_key,
                    )
                    continue
                ready.append((key, entry.routing_key, entry.message))
        return ready

    def sent(self, key: tuple[str, bytes]) -> None:
        """A reply from ``due`` was published again."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.sent_at = time.monotonic()
