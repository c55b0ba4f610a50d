"""The asyncio AMQP 0-9-1 driver: rpcmsg over RabbitMQ with aiormq, on the caller's loop.

Registered under ``rpcmsg.async_drivers`` as ``rabbit``, ``amqp`` and ``kombu``, the names
of its sync twin (:mod:`rpcmsg_drivers.amqp.driver`), with the same URL form, failover
between the URL's hosts and ``[oslo_messaging_rabbit]`` options, read through the sync
package's ``Settings`` (refused together as there).

Why aiormq: kombu and py-amqp have no asyncio. aiormq is the asyncio AMQP client with the
fewest layers (aio-pika is built on it): it hands us channels, frames, confirms, returns
and consumer cancel notifications directly, so the driver reuses the sync driver's
topology, queue arguments and reply layout as they are. aio-pika's robust connections and
queue objects would duplicate what the sync package already decides (names, arguments,
reconnection policy) and add a layer on the hot path.

Wire and topology: the sync driver's, so that sync, async and oslo.messaging 18.3.1
processes talk to each other and declare the same queues: exchanges, queue names (with
``use_queue_manager`` too), queue arguments (``rabbit_quorum_queue`` and its limits,
``rabbit_transient_quorum_queue``, ``rabbit_ha_queues``, ``x-expires`` from
``rabbit_transient_queues_ttl``, ``rabbit_stream_fanout``), consumer arguments
(``enable_cancel_on_failover``), message properties (content type, delivery mode 2 with
durable queues, ``expiration`` of call requests, ``kombu_compression``) all come from
:mod:`rpcmsg_drivers.amqp` (``topology``, ``arguments``, ``codec``, ``options``).

Guarantees:

* Casts, fanout casts and notifications are published with **publisher confirms**: ``send``
  returns once RabbitMQ acknowledged the message; a connection failure (or a link silent
  for ``heartbeat_timeout_threshold``) before the ack publishes it again as ``retry``
  allows (a resent message may arrive twice; servers drop duplicates by ``_unique_id``).
  Concurrent senders pipeline on one connection, so ``rabbit_confirm_window`` (a
  sync-driver window) has no use here.
* Call requests are not confirmed (as in the sync driver and oslo.messaging) and carry their
  timeout as AMQP ``expiration``. ``mandatory=True`` waits for the confirm and raises
  ``MessageUndeliverable`` when no queue is bound.
* Replies: with ``direct_mandatory_flag`` (default) published mandatory on the confirm
  channel, ``send_reply`` returning once the frames are queued (a task awaits the broker's
  verdict); one whose reply queue is missing is sent again every 0.25 s in the background
  for up to ``kombu_missing_consumer_retry_timeout`` seconds, then dropped with an error
  log.
* Consumers acknowledge casts after handling; a listener holds at most its prefetch window
  over all its queues together, set as the sync driver sets it (``basic.qos`` per consumer
  and per channel with classic queues, an equal share per consumer with quorum queues or a
  stream: :func:`rpcmsg_drivers.amqp.topology.qos_windows`): ``rabbit_qos_prefetch_count``,
  or when it is 0 twice the server's ``max_concurrency`` (the ``capacity`` it listens with;
  ``executor_thread_pool_size`` without one) (``tests/amqp/test_window_kinds.py``,
  ``tests/conformance_async/test_concurrency.py``).
* Heartbeats (``heartbeat_timeout_threshold``): sent by aiormq; a connection that hears
  nothing from the broker for that long is closed and opened again.
* Connections lost are reopened, failing over between hosts with the sync driver's backoff
  (``rabbit_retry_interval``, ``rabbit_retry_backoff``, ``rabbit_interval_max``,
  ``kombu_failover_strategy``); listeners and the reply consumer first wait
  ``kombu_reconnect_delay`` plus up to ``kombu_reconnect_splay`` seconds, and also consume
  again when RabbitMQ cancels their consumer (consumer cancel notifications).
* TLS (``ssl = true``): the broker's certificate is always verified (``ssl_ca_file`` or the
  system's authorities), its host name unless ``ssl_enforce_hostname_verification`` is
  false; ``ssl_cert_file``/``ssl_key_file`` and ``ssl_version`` as in the sync driver.
* Deadlines (``rpcmsg.driver.aio``): a call's connect (each host at most 5 s, less when the
  deadline is nearer), handshake, channel opening, declarations and publish end by its
  deadline with ``MessagingTimeout``. A send without a deadline makes at most ``retry + 1``
  attempts: each connects within 5 s per host and, once connected, ends within
  ``heartbeat_timeout_threshold`` seconds (60 with heartbeats off) however the broker
  stalls.

Differences from the sync driver: ``rabbit_login_method = AMQPLAIN`` logs in with PLAIN
(aiormq has no AMQPLAIN; RabbitMQ takes both for the same user); ``RABBIT-CR-DEMO`` is
refused when the transport is made. One publishing connection per transport (aiormq
multiplexes), so ``rpc_conn_pool_size``, ``conn_pool_min_size`` and ``conn_pool_ttl``
are not used.

Errors: aiormq's never cross the seam. Unreachable brokers and exhausted retries raise
``TransportDriverError``; a deadline passed ``MessagingTimeout``; a mandatory message no
queue took ``MessageUndeliverable``; a declaration the broker refuses (PRECONDITION_FAILED)
``TransportDriverError`` naming it; non-bytes bodies ``TypeError``.

Tasks and connections per transport: one publishing connection (opened by the first send),
one connection for replies (opened by the first call), one per listener; each consuming
connection has one keeping task (reconnection). aiormq adds its reader, writer and
heartbeat tasks per connection and a reader task per channel.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from oslo_config import cfg
from pamqp.commands import Basic

from rpcmsg._url import TransportURL
from rpcmsg.driver import JSON, Capabilities, load_settings
from rpcmsg.driver.aio import AsyncDriver, AsyncListener, AsyncReplyConsumer, AsyncReplyHandler
from rpcmsg.target import Target
from rpcmsg_drivers.aioamqp.connection import AsyncConnector
from rpcmsg_drivers.aioamqp.listener import AsyncAMQPListener, AsyncAMQPReplyConsumer
from rpcmsg_drivers.aioamqp.publisher import AsyncPublisher
from rpcmsg_drivers.amqp import codec
from rpcmsg_drivers.amqp.options import GROUP, OPTIONS, Settings, prefetch_window
from rpcmsg_drivers.amqp.topology import Exchange, Topology

__all__ = ["AsyncAMQPDriver"]

_DEFAULT_EXCHANGE = Exchange("")


class AsyncAMQPDriver(AsyncDriver):
    """Asyncio RabbitMQ driver; the module docstring is its spec sheet."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        durable=True,
        at_least_once=True,
        mandatory=True,
        expiration=True,
        cross_process=True,
    )
    option_group: ClassVar[str | None] = GROUP
    options: ClassVar[Sequence[cfg.Opt]] = OPTIONS

    def __init__(self, conf: cfg.ConfigOpts, url: TransportURL, default_exchange: str) -> None:
        super().__init__(conf, url, default_exchange)
        self.settings = load_settings(conf, GROUP, OPTIONS, url.query, Settings)
        self.settings.check()
        if self.settings.kombu_compression:
            codec.check(self.settings.kombu_compression)
        self.topology = Topology(self.settings)
        self.connector = AsyncConnector(url, self.settings)
        self.publisher = AsyncPublisher(self.connector)
        self._delivery_mode = 2 if self.settings.durable else 1

    def _message(
        self, body: bytes, content_type: str, expiration: float | None = None
    ) -> tuple[bytes, Basic.Properties]:
        _check_body(body)
        body, properties, headers = codec.prepare(
            bytes(body),
            content_type,
            compression_method=self.settings.kombu_compression,
            delivery_mode=self._delivery_mode,
            expiration=expiration,
        )
        return body, Basic.Properties(headers=headers or None, **properties)

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
        body, properties = self._message(body, content_type, expiration)
        exchange, key = self.topology.request_route(target, self.default_exchange)
        if deadline is None and expiration is not None:
            deadline = time.monotonic() + expiration  # a call's request is worth no more
        await self.publisher.publish(
            exchange,
            key,
            body,
            properties,
            confirm=expiration is None,
            mandatory=mandatory,
            retry=retry,
            deadline=deadline,
        )

    async def listen(self, target: Target, *, capacity: int | None = None) -> AsyncListener:
        listener = AsyncAMQPListener(
            self.connector,
            self.topology.server_queues(target, self.default_exchange),
            prefetch_window(self.settings, self.conf, capacity),
            name=f"rpcmsg-aioamqp-{target.topic or ''}",
        )
        await listener.start()
        return listener

    async def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        body, properties = self._message(body, content_type)
        await self.publisher.publish(
            _DEFAULT_EXCHANGE, address, body, properties, retry=retry, returnable=True
        )

    async def open_reply_consumer(
        self, on_reply: AsyncReplyHandler, deadline: float | None = None
    ) -> AsyncReplyConsumer:
        queue = self.topology.reply_queue(self.topology.reply_address())
        consumer = AsyncAMQPReplyConsumer(self.connector, queue, on_reply)
        await consumer.start(deadline)
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
        body, properties = self._message(body, content_type)
        queue = self.topology.notification_queue(target, self.default_exchange)
        await self.publisher.publish(
            queue.exchange,
            target.topic or "",
            body,
            properties,
            confirm=True,
            retry=retry,
            queue=queue,
        )

    async def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> AsyncListener:
        listener = AsyncAMQPListener(
            self.connector,
            self.topology.notification_queues(targets, pool, self.default_exchange),
            prefetch_window(self.settings, self.conf, capacity),
            name="rpcmsg-aioamqp-notifications",
        )
        await listener.start()
        return listener

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.publisher.close()


def _check_body(body: bytes) -> None:
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"message bodies are bytes, not {type(body).__name__}")
