"""Replies: a list per reply address, pushed with ``RPUSH`` and taken with ``BLMPOP``.

A list is Redis's cheapest request/reply primitive: one round trip each way and nothing to
acknowledge. Replies are at most once, like the calls they answer (the caller has its own
timeout). Every push renews the list's expiry (``reply_ttl``), so the list of a caller that
died vanishes on its own (framing: :mod:`rpcmsg_drivers.redis.framing`).

The consumer is *polled*: it has no thread. The core's waiting callers take turns calling
``poll``, so a caller usually pops its own reply in its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import ClassVar, cast

import redis

from rpcmsg.driver import note_reconnect
from rpcmsg.driver.base import ReplyConsumer, ReplyHandler
from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import POP_ERRORS, REDIS_ERRORS
from rpcmsg_drivers.redis.framing import unframe_reply
from rpcmsg_drivers.redis.keys import Keys
from rpcmsg_drivers.redis.resp import connection_of, execute, pack, time_limit

__all__ = ["RedisReplyConsumer"]

LOG = logging.getLogger(__name__)

#: Replies taken in one round trip at most.
_BATCH = 128

#: Shortest blocking pop, in seconds (Redis reads 0 as "for ever").
_MIN_BLOCK = 0.001

#: How long after a blocking pop's end its answer may take to arrive (seconds).
_READ_MARGIN = 0.25


class RedisReplyConsumer(ReplyConsumer):
    """A reply list, popped on a connection of its own by whichever thread polls it."""

    polled: ClassVar[bool] = True

    def __init__(self, factory: ClientFactory, keys: Keys, on_reply: ReplyHandler) -> None:
        self.address = keys.reply(uuid.uuid4().hex)
        self._factory = factory
        self._on_reply = on_reply
        # Blocking pops end well before the socket timeout would call the connection dead.
        self._block = factory.settings.socket_timeout / 2
        self._closed = threading.Event()
        # The connection is used by one polling thread at a time; _lock guards handing it
        # over to close().
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._client_id: int | None = None
        self._polling = False
        self._attempt = 0
        self._retry_at = 0.0

    def poll(self, timeout: float) -> None:
        if self._closed.is_set():
            return
        wait = self._retry_at - time.monotonic()
        if wait > 0:  # backing off after a lost connection
            self._closed.wait(min(wait, timeout))
            return
        with self._lock:
            if self._closed.is_set():
                return
            self._polling = True
        block = max(_MIN_BLOCK, min(timeout, self._block))
        try:
            # Connecting and popping end soon after the block, not after the socket timeout,
            # against a Redis that takes connections and never answers.
            with time_limit(time.monotonic() + block + _READ_MARGIN):
                popped = self._pop(block)
        finally:
            with self._lock:
                self._polling = False
                if self._closed.is_set():
                    self._release()
        for value in popped:
            body, content_type = unframe_reply(value)
            try:
                self._on_reply(body, content_type)
            except Exception:  # a bad handler must not cost the other callers their replies
                LOG.exception("Reply handler failed")

    def _pop(self, block: float) -> list[bytes]:
        """Every waiting reply (up to a batch), after blocking up to ``block`` seconds for
        the first; nothing when the connection was lost (it is opened again later)."""
        try:
            client = self._client
            if client is None:
                client = self._factory.dedicated(f"{self._factory.name}:reply", single=True)
                self._client = client
                self._client_id = int(client.client_id())
            command = pack(b"BLMPOP", f"{block:.3f}", 1, self.address, b"LEFT", b"COUNT", _BATCH)
            popped = execute(connection_of(client), command)
        except POP_ERRORS as exc:
            # OSError, ValueError: the connection was closed under the pop (close).
            if self._closed.is_set():
                return []
            if not isinstance(exc, REDIS_ERRORS):
                raise
            delay = self._factory.settings.backoff(self._attempt)
            self._attempt += 1
            LOG.warning("Reply consumer lost Redis (%s); reconnecting in %.1fs", exc, delay)
            note_reconnect("redis")
            with self._lock:
                self._release()
            self._retry_at = time.monotonic() + delay
            return []
        self._attempt = 0
        return cast("tuple[bytes, list[bytes]]", popped)[1] if popped else []

    def _release(self) -> None:
        """Close the connection. Holds ``_lock``."""
        client, self._client, self._client_id = self._client, None, None
        close_client(client)

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            client_id = self._client_id
            if not self._polling:
                self._release()
        try:
            if client_id is not None:
                self._factory.shared.client_unblock(client_id)
            self._factory.shared.delete(self.address)
        except REDIS_ERRORS as exc:  # the list expires on its own
            LOG.debug("Could not delete reply list %s: %s", self.address, exc)
