"""Replies: a list per reply address, pushed with ``RPUSH`` and taken with ``BLMPOP``.

A list is Redis's cheapest request/reply primitive: one round trip each way and nothing to
acknowledge. Replies are at most once, like the calls they answer (the caller has its own
timeout). Every push renews the list's expiry (``reply_ttl``), so the list of a caller that
died vanishes on its own (framing: :mod:`rpcmsg_drivers.redis.framing`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import cast

import redis

from rpcmsg.driver.base import ReplyConsumer, ReplyHandler
from rpcmsg_drivers.redis.connection import ClientFactory, close_client
from rpcmsg_drivers.redis.errors import REDIS_ERRORS
from rpcmsg_drivers.redis.framing import unframe_reply
from rpcmsg_drivers.redis.keys import Keys

__all__ = ["RedisReplyConsumer"]

LOG = logging.getLogger(__name__)

#: Replies taken in one round trip at most.
_BATCH = 128


class RedisReplyConsumer(ReplyConsumer):
    """A reply list and the thread that hands its replies to ``on_reply``."""

    def __init__(self, factory: ClientFactory, keys: Keys, on_reply: ReplyHandler) -> None:
        self.address = keys.reply(uuid.uuid4().hex)
        self._factory = factory
        self._on_reply = on_reply
        self._closed = threading.Event()
        self._client_id: int | None = None
        self._thread = threading.Thread(target=self._run, name="rpcmsg-redis-replies", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        client: redis.Redis | None = None
        attempt = 0
        while not self._closed.is_set():
            try:
                if client is None:
                    client = self._factory.dedicated(f"{self._factory.name}:reply", single=True)
                    self._client_id = int(client.client_id())
                # Blocks well within the socket timeout, which would call the connection dead;
                # takes every reply waiting at once (many callers share one list).
                popped = client.blmpop(
                    self._factory.settings.socket_timeout / 2,
                    1,
                    self.address,
                    direction="LEFT",
                    count=_BATCH,
                )
                attempt = 0
                if not popped:
                    continue
                for value in cast("tuple[bytes, list[bytes]]", popped)[1]:
                    body, content_type = unframe_reply(value)
                    try:
                        self._on_reply(body, content_type)
                    except Exception:  # a bad handler must not end the consumer
                        LOG.exception("Reply handler failed")
            except REDIS_ERRORS as exc:
                if self._closed.is_set():
                    break
                delay = self._factory.settings.backoff(attempt)
                attempt += 1
                LOG.warning("Reply consumer lost Redis (%s); reconnecting in %.1fs", exc, delay)
                self._client_id = None
                close_client(client)
                client = None
                self._closed.wait(delay)
        close_client(client)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            if self._client_id is not None:
                self._factory.shared.client_unblock(self._client_id)
            self._factory.shared.delete(self.address)
        except REDIS_ERRORS as exc:  # the list expires on its own
            LOG.debug("Could not delete reply list %s: %s", self.address, exc)
