"""The reply consumer: one task per transport popping its reply list, pushing each reply.

The list and its framing are the sync driver's (:mod:`rpcmsg_drivers.redis.replies`): the
repliers ``RPUSH`` (the ``reply`` script, renewing ``reply_ttl``), and one task pops every
waiting reply (up to a batch) with ``BLMPOP`` on a connection of its own and hands each to
``on_reply`` in the loop, so a reply reaches its call's future with no task per call. A
lost connection is opened again with backoff; replies pushed meanwhile wait in the list.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from rpcmsg.driver import note_reconnect
from rpcmsg.driver.aio import AsyncReplyConsumer, AsyncReplyHandler
from rpcmsg_drivers.aioredis.connection import AsyncFactory, discard, roundtrip
from rpcmsg_drivers.redis.framing import unframe_reply
from rpcmsg_drivers.redis.keys import Keys
from rpcmsg_drivers.redis.resp import pack

__all__ = ["AsyncRedisReplyConsumer"]

LOG = logging.getLogger(__name__)

#: Replies taken in one round trip at most.
_BATCH = 128


class AsyncRedisReplyConsumer(AsyncReplyConsumer):
    """A reply list and the task that pops it; made by ``open_reply_consumer``, in the loop."""

    def __init__(self, factory: AsyncFactory, keys: Keys, on_reply: AsyncReplyHandler) -> None:
        self.address = keys.reply(uuid.uuid4().hex)
        self._factory = factory
        self._on_reply = on_reply
        # Blocking pops end well before the socket timeout would call the connection dead.
        block = factory.settings.socket_timeout / 2
        self._pop = pack(b"BLMPOP", f"{block:.3f}", 1, self.address, b"LEFT", b"COUNT", _BATCH)
        self._limit = block + factory.settings.socket_timeout  # the pop's block and an answer
        self._conn: Any = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rpcmsg-redis-replies-{self.address}"
        )

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                if self._conn is None:
                    self._conn = self._factory.dedicated(f"{self._factory.name}:reply")
                (popped,) = await roundtrip(self._conn, [self._pop], self._limit)
                if isinstance(popped, Exception):
                    raise popped
                attempt = 0
            except Exception as exc:  # REDIS_ERRORS, or a reply of an unexpected shape
                delay = self._factory.settings.backoff(attempt)
                attempt += 1
                LOG.warning("Reply consumer lost Redis (%s); reconnecting in %.1fs", exc, delay)
                note_reconnect("redis")
                await discard(self._conn)
                self._conn = None
                await asyncio.sleep(delay)
                continue
            for value in popped[1] if popped else ():
                body, content_type = unframe_reply(value)
                try:
                    self._on_reply(body, content_type)
                except Exception:  # a bad handler must not cost the other calls their replies
                    LOG.exception("Reply handler failed")

    async def close(self) -> None:
        """Stop the task (replies popped at that moment are dropped: no call waits for them
        any more) and delete the list."""
        if self._task.done():
            return
        self._task.cancel()
        await asyncio.wait([self._task])
        await discard(self._conn)
        self._conn = None
        try:
            await self._factory.command(0, "deleting a reply list", b"DEL", self.address)
        except Exception as exc:  # the list expires on its own
            LOG.debug("Could not delete reply list %s: %s", self.address, exc)
