"""Acknowledgements and requeues, written to Redis off the caller's path.

``IncomingMessage.ack`` must never block for long, and on the call path a synchronous round
trip would cost as much as the request itself. So settlements go to one background thread
per transport, which writes everything queued since its last write in one ``MULTI``/``EXEC``.
An ack is ``XACK`` + ``XDEL`` (each stream has a single group, so an acknowledged entry is
garbage); a requeue adds a copy marked redelivered and acknowledges the original.

When Redis is unreachable the batch is retried with backoff and nothing is dropped: until the
write succeeds the entries stay pending, and at worst they are delivered again, which is the
at-least-once contract. ``flush`` waits for everything queued so far to be written.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import redis

from rpcmsg_drivers.redis.connection import ClientFactory
from rpcmsg_drivers.redis.errors import REDIS_ERRORS, retryable
from rpcmsg_drivers.redis.keys import GROUP

__all__ = ["Settlement", "Settler"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settlement:
    """One entry to acknowledge, or (with ``requeue``) to put back at the end of its stream."""

    stream: str
    entry_id: str
    requeue: bool = False
    body: bytes = b""
    content_type: str = ""
    expires: str = ""


class Settler:
    """The background writer of settlements for one transport."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._cond = threading.Condition()
        self._pending: deque[Settlement] = deque()
        self._queued = 0
        self._written = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, settlement: Settlement) -> None:
        """Queue ``settlement``; returns at once."""
        with self._cond:
            self._pending.append(settlement)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="rpcmsg-redis-settler", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is written; False if ``timeout`` passed."""
        with self._cond:
            target = self._queued
            return self._cond.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float) -> None:
        """Write what is queued (for at most ``timeout`` seconds) and stop the thread."""
        if not self.flush(timeout):
            LOG.warning(
                "Could not write every acknowledgement to Redis; the messages concerned "
                "will be delivered again"
            )
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                batch = list(self._pending)
            try:
                self._write(self._factory.shared, batch)
            except REDIS_ERRORS as exc:
                if retryable(exc) and not self._factory.closed:
                    delay = self._factory.settings.backoff(attempt)
                    attempt += 1
                    LOG.warning("Could not settle messages in Redis (%s); retrying", exc)
                    with self._cond:
                        self._cond.wait_for(lambda: self._stopping, delay)
                    continue
                LOG.error("Dropping %d settlements Redis refused: %s", len(batch), exc)
            attempt = 0
            with self._cond:
                for _ in batch:
                    self._pending.popleft()
                self._written += len(batch)
                self._cond.notify_all()

    def _write(self, client: redis.Redis, batch: list[Settlement]) -> None:
        maxlen = self._factory.settings.stream_max_length
        pipe = client.pipeline(transaction=True)
        for item in batch:
            if item.requeue:
                fields: dict[str, bytes | str] = {
                    "b": item.body,
                    "c": item.content_type,
                    "r": "1",
                }
                if item.expires:
                    fields["e"] = item.expires
                pipe.xadd(item.stream, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.xack(item.stream, GROUP, item.entry_id)
            pipe.xdel(item.stream, item.entry_id)
        pipe.execute(raise_on_error=False)
