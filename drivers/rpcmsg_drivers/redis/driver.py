"""The Redis driver: rpcmsg over Redis Streams and lists, built directly on redis-py.

URLs: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) and
``redis+sentinel://[[user]:password@]sentinel1[:port],sentinel2[:port]/db`` (the master of
``sentinel_service_name`` is found through Sentinel on every connection). A non-numeric path
is a virtual host name that scopes the keys. Options: the ``[rpcmsg_redis]`` group
(:mod:`rpcmsg_drivers.redis.options`), each also settable in the URL query.

Features: call, cast, server-targeted cast, fanout, exchanges, the call monitor, timeouts,
request expiration, mandatory sends (``MessageUndeliverable``), notifications with pools,
requeue. Key layout: :mod:`rpcmsg_drivers.redis.keys`; every key of an exchange lives under
``<key_prefix>[:<vhost>]:<exchange>``, so deployments never see each other's messages.

Design:

* Casts and notifications go to Redis Streams, one consumer group per stream; the servers
  of a topic (or the listeners of a pool) are consumers of that group and share its
  messages. A publish is one Lua script: one round trip. Acknowledgements ride in the
  reader's next ``XREADGROUP`` round trip (:mod:`rpcmsg_drivers.redis.settle`).
* Calls (requests sent with an ``expiration``, which the core sets to the call timeout) go
  to lists popped with ``BLMPOP`` (:mod:`rpcmsg_drivers.redis.calls`): a call is at most
  once anyway, and a list is the raw ``LPUSH``/``BLPOP`` floor, measurably cheaper than a
  stream read plus an acknowledgement. A request without expiration takes the stream path.
* Fanout: each listener has its own stream, registered in a zset of the topic's routes with
  an expiry it refreshes; a fanout publish copies the message into every live route.
* Notification pools: the default (pool-less) stream of an address is created by the first
  publish; a pool's stream is registered as a route of each address it listens to.
* Replies: a list per transport, pushed with ``RPUSH``; the consumer is polled, so the
  waiting callers pop their replies themselves, every waiting reply in one ``BLMPOP``
  (:mod:`rpcmsg_drivers.redis.replies`).
* Threads: each listener has one stream reader thread; its call lists are popped by the
  server's own workers, taking turns, so the worker that pops a request handles it
  (:mod:`rpcmsg_drivers.redis.inbox`). Readers block on connections of their own named
  after the consumer; ``stop`` wakes them with ``CLIENT UNBLOCK`` and the listener's
  doorbell list. Publishing uses the transport's connection pool; the four commands of a
  call (request, its pop, reply, its pop) are packed by hand
  (:mod:`rpcmsg_drivers.redis.resp`).

Guarantees:

* Casts and notifications are at least once: an entry is deleted only when its consumer
  acknowledged it. Entries held by a consumer whose connection is gone (it died) are taken
  over by a live consumer of the same stream at its next beat (at most 5 s, ``CLIENT
  LIST``); entries of a consumer that is connected but silent are claimed after
  ``claim_idle_time``; live consumers keep refreshing what they hold, so a long task is not
  taken from them. Unsettled entries of a listener cleaned up normally go back to their
  stream at once. Duplicates are possible (after a crash, a lost acknowledgement or a
  consumer that reconnects slowly); the core drops duplicate request deliveries it has seen.
* Calls are at most once, as in the core (acknowledged when taken): a request popped by a
  server that dies is lost and its caller times out. Requests popped but not yet handed to
  the server go back to the head of their list when the listener is cleaned up. A request
  whose caller stopped waiting (its ``expiration``) is dropped by the consumer; expiry
  compares wall clocks of publisher and consumer.
* Load is shared among the servers of a topic and the listeners of a pool; every pool and
  every fanout listener gets its own copy.
* A caller gets its reply or ``MessagingTimeout``; reply lists of callers that died expire
  after ``reply_ttl``.
* Deadlines (``rpcmsg.driver.base``): each attempt of a call's send gets the time left
  (opening a connection, its handshake, the command's reply, and the commands redis-py
  sends by itself: the health check's ``PING``, ``SCRIPT LOAD`` after ``NOSCRIPT``), not
  the full ``socket_timeout``; a reply poll (its ``CLIENT ID`` on a new connection
  included) ends soon after its blocking pop. A cast or notification
  attempt takes at most ``socket_connect_timeout`` plus ``socket_timeout`` per wait;
  ``retry=N`` allows ``N`` more attempts, with the ``retry_interval`` backoff between them.
* A listener reads ahead at most ``prefetch_count`` entries beyond what its workers
  handle; the rest of a backlog stays in Redis.
* Memory is bounded and nothing unacknowledged is trimmed: acknowledged entries are deleted
  at once, so a stream holds only what is pending or undelivered, and a stream or call list
  holding ``stream_max_length`` messages takes no more: a send to it raises
  ``MessageDeliveryFailure`` (a fanout or a notification adds nothing anywhere if one of
  its streams is full) until its consumers catch up. A notification address nobody ever
  listens on thus refuses notifications after ``stream_max_length`` of them. A call list
  expires when the longest timeout of its requests has passed; fanout and pool streams and
  their routes expire ``transient_queues_ttl`` after their last listener; idle consumers
  with nothing pending are forgotten. A request to a topic no server ever listened on is
  dropped (``MessageUndeliverable`` if mandatory), like an unroutable AMQP message; a topic
  whose servers are gone keeps at most the cap, then refuses.
* Connection loss (restart, ``CLIENT KILL``, network cut) is survived: listeners and reply
  consumers reconnect with backoff, sends retry as their ``retry`` allows. Nothing
  acknowledged is lost; nothing unacknowledged is dropped (it is redelivered). A Redis
  restart without persistence loses what Redis lost; durability is Redis's own (AOF).
* A Sentinel failover (``redis+sentinel://``) is survived like a connection loss: clients,
  servers and listeners find the promoted replica through the Sentinels and go on, calls
  meanwhile end in ``MessagingTimeout``. It is **not lossless**: Redis replicates
  asynchronously and the driver does not wait for replicas (no ``WAIT``), so casts and
  notifications the old primary accepted and had not passed on, or accepted after the
  promotion and before the Sentinels demoted it (some seconds when it is still up), and that
  were not consumed there, are lost; acknowledgements the same way, so deliveries repeat.
  The fault suite measures it (tests/faults/test_redis_sentinel.py).

Requirements: Redis 7 or later (``BLMPOP``, ``XAUTOCLAIM``). ``CLIENT LIST`` and ``CLIENT
UNBLOCK`` are used when allowed; without them dead consumers are found by
``claim_idle_time`` only and ``stop`` waits for the current blocking read to end (at most
half of ``socket_timeout``). Not supported: Redis Cluster (the scripts touch keys they
compute); TLS together with Sentinel.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

from oslo_config import cfg

from rpcmsg.driver import JSON, Capabilities, Driver, Listener, ReplyConsumer, load_settings
from rpcmsg.driver.base import ReplyHandler
from rpcmsg.exceptions import MessageUndeliverable
from rpcmsg.target import Target
from rpcmsg.transport import TransportURL
from rpcmsg_drivers.redis import options, wire
from rpcmsg_drivers.redis.connection import ClientFactory, parse_url
from rpcmsg_drivers.redis.keys import Keys
from rpcmsg_drivers.redis.listener import RedisListener
from rpcmsg_drivers.redis.replies import RedisReplyConsumer

__all__ = ["RedisDriver"]

LOG = logging.getLogger(__name__)


class RedisDriver(Driver):
    """Redis driver; see the module docstring for its spec sheet."""

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
        self._factory = ClientFactory(self.connection, self.settings, name)
        self._scripts = self._factory.scripts
        # What cleanup must stop if its owner did not.
        self._listeners: weakref.WeakSet[RedisListener] = weakref.WeakSet()
        self._consumers: weakref.WeakSet[RedisReplyConsumer] = weakref.WeakSet()

    def keys(self, exchange: str | None = None) -> Keys:
        """The key names of ``exchange`` (default: the transport's)."""
        return Keys(
            self.settings.key_prefix,
            self.connection.namespace,
            exchange or self.default_exchange,
        )

    # -- RPC ---------------------------------------------------------------------------

    def send(
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
        delivered = wire.check_room(self._publish(plan, retry, deadline), maxlen)
        if not delivered:
            key = wire.undeliverable_key(target)
            if mandatory:
                raise MessageUndeliverable(None, target.exchange, key, None)
            LOG.debug("No listener ever consumed %s in %s; request dropped", key, keys.prefix)

    def _publish(self, plan: wire.Publish, retry: int | None, deadline: float | None) -> Any:
        script = self._scripts.by_name[plan.script]
        return self._factory.run(
            lambda c: self._scripts.evalsha(c, script, plan.keys, plan.args),
            retry,
            plan.doing,
            deadline=deadline,
        )

    def listen(self, target: Target, *, capacity: int | None = None) -> Listener:
        plan = wire.server_plan(self.keys(target.exchange), target)
        listener = RedisListener(
            self._factory,
            plan.streams,
            transient=plan.transient,
            routes=plan.routes,
            route_ttl=self.settings.transient_queues_ttl,
            calls=plan.calls,
            doorbell=plan.doorbell,
        )
        self._listeners.add(listener)
        return listener.open()

    def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        wire.check_body(body)
        if not wire.is_reply_address(self.settings.key_prefix, address):
            LOG.warning("Dropping a reply to %r: not a reply address of this driver", address)
            return
        self._publish(wire.reply(address, body, content_type, self.settings.reply_ttl), retry, None)

    def open_reply_consumer(
        self, on_reply: ReplyHandler, deadline: float | None = None
    ) -> ReplyConsumer:
        consumer = RedisReplyConsumer(self._factory, self.keys(), on_reply)
        self._consumers.add(consumer)
        return consumer

    # -- notifications -----------------------------------------------------------------

    def send_notification(
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
        wire.check_room(self._publish(plan, retry, None), maxlen)

    def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> Listener:
        plan = wire.notification_plan(self.keys, targets, pool)
        listener = RedisListener(
            self._factory,
            plan.streams,
            transient=plan.transient,
            routes=plan.routes,
            route_ttl=self.settings.transient_queues_ttl,
        )
        self._listeners.add(listener)
        return listener.open()

    # -- lifecycle ---------------------------------------------------------------------

    def cleanup(self) -> None:
        """Clean up the listeners and reply consumers still open, then close the pool."""
        for listener in list(self._listeners):
            listener.cleanup()
        for consumer in list(self._consumers):
            consumer.close()
        self._factory.close()
