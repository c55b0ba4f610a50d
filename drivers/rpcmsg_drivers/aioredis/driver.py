"""The asyncio Redis driver: rpcmsg over Redis Streams and lists with ``redis.asyncio``.

Registered under ``rpcmsg.async_drivers`` as ``redis``, ``rediss`` and ``redis+sentinel``,
the names of its sync twin (:mod:`rpcmsg_drivers.redis.driver`), with the same URL forms
(:mod:`rpcmsg_drivers.redis.connection`) and ``[rpcmsg_redis]`` options
(:mod:`rpcmsg_drivers.redis.options`, also settable in the URL query).

Wire and layout: the sync driver's, imported, not copied: the keys
(:mod:`rpcmsg_drivers.redis.keys`), the publish scripts (:mod:`~rpcmsg_drivers.redis.scripts`),
what each operation writes and each listener reads (:mod:`~rpcmsg_drivers.redis.wire`),
the list framing, entry fields and settlements. A sync and an async process on one Redis
URL call, cast to and notify each other, and share the consumer groups of a topic or pool.

Features: call, cast, server-targeted cast, fanout, exchanges, the call monitor, timeouts,
request expiration, mandatory sends (``MessageUndeliverable``), notifications with pools,
requeue.

Guarantees (as the sync driver's spec sheet, which lists them in full):

* Casts and notifications are at least once: an entry is deleted only once its consumer
  acknowledged it (``XACK`` + ``XDEL``, written with the listener's next read). Entries held
  by a consumer whose connection is gone are taken over by a live consumer of the stream
  at its next beat (at most 5 s); entries of a connected but silent one after
  ``claim_idle_time``; a listener keeps what it holds fresh. A listener cleaned up gives
  back what it took and did not settle. Duplicates are possible; the core drops them.
* Calls go to lists and are at most once (taken when popped); a request whose caller
  stopped waiting is dropped by the consumer.
* Nothing unacknowledged is trimmed: a stream or call list holding ``stream_max_length``
  messages refuses sends with ``MessageDeliveryFailure``. A request to a topic no server
  ever listened on is dropped (``MessageUndeliverable`` if mandatory).
* A listener holds at most ``prefetch_count`` messages waiting to be polled.
* Connection loss is survived: readers reconnect with backoff, sends retry as ``retry``
  allows. Durability, failover and its losses are Redis's and Sentinel's, as for the sync
  driver.

Deadlines and cancellation (``rpcmsg.driver.aio``): a call's send ends by its deadline
with ``MessagingTimeout``: waiting for a pooled connection, connecting, the handshake and
the script's reply are all inside one ``asyncio.timeout_at``. A send without a deadline
makes at most ``retry + 1`` attempts (``retry_interval`` backoff between them), each ended
after ``socket_connect_timeout + socket_timeout``. A connection whose exchange was cut by an
error, a timeout or a cancellation is closed, never reused (:mod:`.connection`). A
cancelled ``poll`` takes nothing; what the readers took and nobody polled is given back by
``cleanup``.

Tasks and connections per transport: a pool of at most ``POOL_SIZE`` (32) connections for
publishing, replies and settling; one reply task with its connection (from the first call);
per listener one stream reader task and, for RPC servers, one call reader task, each on a
connection of its own named after the listener's consumer (``CLIENT LIST`` shows who is
alive).

Errors: redis-py's never cross the seam: ``TransportDriverError`` from the original,
``MessagingTimeout`` past a deadline, ``MessageDeliveryFailure`` for a full stream,
``MessageUndeliverable``, ``TypeError`` for a body that is not bytes.

Requirements and limits: Redis 7 or later; not Redis Cluster; not TLS with Sentinel.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from oslo_config import cfg

from rpcmsg._url import TransportURL
from rpcmsg.driver import JSON, Capabilities, load_settings
from rpcmsg.driver.aio import AsyncDriver, AsyncListener, AsyncReplyConsumer, AsyncReplyHandler
from rpcmsg.exceptions import MessageUndeliverable
from rpcmsg.target import Target
from rpcmsg_drivers.aioredis.connection import AsyncFactory
from rpcmsg_drivers.aioredis.listener import AsyncRedisListener
from rpcmsg_drivers.aioredis.replies import AsyncRedisReplyConsumer
from rpcmsg_drivers.redis import options, wire
from rpcmsg_drivers.redis.connection import parse_url
from rpcmsg_drivers.redis.keys import Keys

__all__ = ["AsyncRedisDriver"]

LOG = logging.getLogger(__name__)


class AsyncRedisDriver(AsyncDriver):
    """Asyncio Redis driver; the module docstring is its spec sheet."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        durable=False,
        at_least_once=True,
        mandatory=True,
        expiration=True,
        cross_process=True,
    )
    option_group: ClassVar[str | None] = options.GROUP
    options: ClassVar[Sequence[cfg.Opt]] = options.OPTIONS

    def __init__(self, conf: cfg.ConfigOpts, url: TransportURL, default_exchange: str) -> None:
        super().__init__(conf, url, default_exchange)
        self.settings = load_settings(
            conf, options.GROUP, options.OPTIONS, url.query, options.Settings
        )
        self.connection = parse_url(url, self.settings)
        name = f"rpcmsg:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.factory = AsyncFactory(self.connection, self.settings, name)
        # What aclose must clean up if its owner did not.
        self._listeners: list[AsyncRedisListener] = []
        self._consumers: list[AsyncRedisReplyConsumer] = []

    def keys(self, exchange: str | None = None) -> Keys:
        """The key names of ``exchange`` (default: the transport's)."""
        return Keys(
            self.settings.key_prefix, self.connection.namespace, exchange or self.default_exchange
        )

    async def _publish(
        self, plan: wire.Publish, retry: int | None, deadline: float | None = None
    ) -> Any:
        return await self.factory.script(
            plan.script, plan.keys, plan.args, retry, plan.doing, deadline
        )

    # -- RPC ---------------------------------------------------------------------------

    async def send(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        expiration: float | None = None,
        retry: int | None = None,
        mandatory: bool = False,
        deadline: float | None = None,
    ) -> None:
        wire.check_body(body)
        if deadline is None and expiration is not None:
            deadline = time.monotonic() + expiration
        keys = self.keys(target.exchange)
        maxlen = self.settings.stream_max_length
        plan = wire.request(keys, target, body, content_type, expiration, maxlen)
        delivered = wire.check_room(await self._publish(plan, retry, deadline), maxlen)
        if not delivered:
            key = wire.undeliverable_key(target)
            if mandatory:
                raise MessageUndeliverable(None, target.exchange, key, None)
            LOG.debug("No listener ever consumed %s in %s; request dropped", key, keys.prefix)

    async def listen(self, target: Target, *, capacity: int | None = None) -> AsyncListener:
        # The read-ahead counts messages waiting to be polled, not those being handled:
        # it never caps the server's concurrency, whatever ``capacity`` is.
        plan = wire.server_plan(self.keys(target.exchange), target)
        return await self._open(plan)

    async def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        wire.check_body(body)
        if not wire.is_reply_address(self.settings.key_prefix, address):
            LOG.warning("Dropping a reply to %r: not a reply address of this driver", address)
            return
        await self._publish(wire.reply(address, body, content_type, self.settings.reply_ttl), retry)

    async def open_reply_consumer(
        self, on_reply: AsyncReplyHandler, deadline: float | None = None
    ) -> AsyncReplyConsumer:
        # No I/O here: the consumer's task connects, and replies wait in the list meanwhile.
        consumer = AsyncRedisReplyConsumer(self.factory, self.keys(), on_reply)
        self._consumers.append(consumer)
        return consumer

    # -- notifications -----------------------------------------------------------------

    async def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        wire.check_body(body)
        maxlen = self.settings.stream_max_length
        plan = wire.notification(self.keys(target.exchange), target, body, content_type, maxlen)
        wire.check_room(await self._publish(plan, retry), maxlen)

    async def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> AsyncListener:
        return await self._open(wire.notification_plan(self.keys, targets, pool))

    async def _open(self, plan: wire.ListenPlan) -> AsyncRedisListener:
        listener = AsyncRedisListener(self.factory, plan, self.settings.transient_queues_ttl)
        await listener.open()
        self._listeners.append(listener)
        return listener

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Clean up the listeners and reply consumers still open, then close the pool."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            await listener.cleanup()
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.close()
        await self.factory.close()
