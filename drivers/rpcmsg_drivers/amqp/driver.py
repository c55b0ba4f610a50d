"""The AMQP 0-9-1 driver: rpcmsg over RabbitMQ (``rabbit://``, ``amqp://``, ``kombu://``).

URL::

    rabbit://[user:pass@]host1[:port1][,[user:pass@]host2[:port2]...]/[virtual_host][?option=value&...]

Several hosts mean failover: connections go to the first host that answers, in the URL's order
(``kombu_failover_strategy = round-robin``, starting with the last host that worked) or
shuffled. Query options override ``[oslo_messaging_rabbit]`` for this transport.

Options (``[oslo_messaging_rabbit]``): every option of oslo.messaging 18.3.1's group, with
its name, type, default and effect (see :mod:`rpcmsg_drivers.amqp.options`), and one of
rpcmsg's own, ``rabbit_confirm_window``. Queue arguments follow oslo.messaging's
(:mod:`rpcmsg_drivers.amqp.arguments`): ``rabbit_quorum_queue`` with the quorum limits
(``rabbit_quorum_delivery_limit``, ``rabbit_quorum_max_memory_length``,
``rabbit_quorum_max_memory_bytes``) for work queues, ``rabbit_transient_quorum_queue`` for
reply and fanout queues, ``rabbit_stream_fanout`` (one stream queue ``<topic>_fanout`` per
topic, consumed from offset ``last`` and then from where each listener was),
``rabbit_ha_queues`` (``x-ha-policy``), ``enable_cancel_on_failover`` (a consumer
argument), ``use_queue_manager`` with ``hostname``/``processname`` (stable reply and fanout
queue names, see :mod:`rpcmsg_drivers.amqp.qmanager`). Settings oslo.messaging refuses
together are refused when the transport is made. ``ssl_enforce_fips_mode`` is accepted and
ignored (deprecated in oslo.messaging, which ignores it too).

TLS (``ssl = true``): the broker's certificate is always verified, against ``ssl_ca_file`` or,
without one, the system's certificate authorities, and its host name is checked unless
``ssl_enforce_hostname_verification = false`` (oslo.messaging checks it only with a CA file and
a single host). A certificate that does not verify is not retried like a broker that is down:
when no host of the URL connected and one's certificate failed, calls, casts and servers'
``start`` raise ``TLSVerificationError`` (a ``TransportDriverError``) at once,
whatever ``retry`` says, naming the host, the failure and the option that fixes it
(``ssl_ca_file`` or ``ssl_enforce_hostname_verification``); a cast's comes as the
``ClientSendError`` of oslo.messaging, a server's as ``ServerListenError``.

Wire format and layout: oslo.messaging's, so both libraries talk to each other (see
:mod:`rpcmsg_drivers.amqp.topology`). Bodies are the core's JSON envelope with content type
``application/json``; ``kombu_compression`` compresses them as kombu does (``compression``
header), and compressed bodies are always accepted.

Guarantees:

* Casts, fanout casts and notifications are published with **publisher confirms**, pipelined:
  ``send`` returns once the message is written to the broker connection and held until
  RabbitMQ confirms it; at most ``rabbit_confirm_window`` (256) messages per connection are
  in flight, beyond that the sender waits (0: every send waits for its own confirm). Messages
  a failed connection (or a nack) left unconfirmed are published again after reconnecting,
  and ``cleanup()`` waits (up to 10 s) for outstanding confirms. So nothing is lost to a
  broker or network failure while the process lives; what a *crashing process* had in flight
  is lost, as with oslo.messaging. Waiting for each confirm instead would cost a broker round
  trip per cast, a third of the cast rate. A resent message may arrive twice; servers drop
  duplicates by ``_unique_id``.
* Call requests and replies are **not** confirmed (oslo.messaging does not confirm them
  either): a call has its own timeout. A call with ``TransportOptions(at_least_once=True)`` is
  published *mandatory* and waits for its confirm: it raises ``MessageUndeliverable`` at once
  when no queue is bound.
* Call requests carry their timeout as AMQP ``expiration``: RabbitMQ drops requests nobody
  took in time. A reply whose reply queue does not exist (its caller is gone, or
  reconnecting) never blocks the server: with ``direct_mandatory_flag`` (the default) RabbitMQ
  returns it and a background thread sends it again every 0.25 s for up to
  ``kombu_missing_consumer_retry_timeout`` seconds, then drops it with an error log, as
  oslo.messaging does (:mod:`rpcmsg_drivers.amqp.replies`); without, the broker drops it.
* With ``amqp_durable_queues`` (or ``rabbit_quorum_queue``), topic exchanges and queues are
  durable and messages persistent: confirmed casts survive a broker restart. Consumers
  acknowledge a cast only after it was handled, so a cast held by a server that dies is
  delivered to another (at least once). Acknowledgements go out with the listener's next
  read of its connection (at once when half the prefetch window is held, else within a
  second): a server process killed in that second has casts it already handled delivered
  again.
* Memory is bounded: a listener holds at most its prefetch window of unacknowledged
  messages over all its queues (an RPC server's ``<topic>``, ``<topic>.<server>`` and fanout
  queue together): ``rabbit_qos_prefetch_count``, or when that is 0 (oslo.messaging's
  default, which would mean no limit) twice the server's worker pool (its
  ``start(override_pool_size=)``, else ``executor_thread_pool_size``); the rest of a backlog
  stays on the broker. RabbitMQ 3.x bounds the channel with a ``global`` ``basic.qos``.
  Quorum queues and streams refuse that, so a listener with one of them gives each queue's
  consumer an equal share of the window instead (at least one message each, so a window
  smaller than the number of queues holds one per queue). Measured with a stuck worker and
  a backlog on all three queues (``tests/amqp/test_window.py``, ``test_window_kinds.py``):
  classic, window 2: 2 held; quorum work queues (classic or quorum fanout), window 2: 3
  held (1 per queue), window 6: 6 (2 per queue); quorum work queues and a stream fanout,
  window 10: 9 in most runs, but up to 26 (RabbitMQ delivers a stream's chunks whole, so
  the stream's consumer may get a whole chunk past its share: with stream fanout the bound
  is the window plus one chunk). The asyncio driver holds the same window the same way.
* Reply and fanout queues expire after ``rabbit_transient_queues_ttl`` seconds unused;
  those with random names are deleted on cleanup (stream queues and the queue manager's
  stable names are left for the next process, as oslo.messaging does).
* Connections lost are reopened (failing over between hosts, with backoff); listeners and
  the reply consumer wait ``kombu_reconnect_delay`` plus up to ``kombu_reconnect_splay``
  random seconds, then declare their queues and consume again. A call whose broker stays
  unreachable raises ``MessagingTimeout`` at its timeout, never hangs.
* Deadlines (``rpcmsg.driver.base``): a call's connecting (each host gets the time left, at
  most 5 s, for the TCP connect, TLS and AMQP handshakes together), waiting for a
  publishing connection held by other senders, declaring and publishing all end by its
  deadline, and so does each ``poll`` of the reply consumer by the waiting callers. Every
  socket read and write on those paths is bounded as a whole by the time left, not per
  ``recv`` (:mod:`rpcmsg_drivers.amqp.sockets`): a frame the broker or the link dribbles in
  slowly is cut at the deadline (the reply consumer reads on later where it stopped; a
  publishing connection caught mid-frame is dropped and opened again). A cast or
  notification attempt takes at most 5 s per host to connect;
  ``retry=N`` allows ``N`` more rounds over the hosts, ``rabbit_retry_interval`` (plus
  ``rabbit_retry_backoff`` per round, at most ``rabbit_interval_max``) apart.
* Closing is bounded: ``transport.cleanup()`` waits up to 10 s for outstanding confirms
  (none outstanding: no wait), then closes the reply connection and the publishing ones,
  each step's socket I/O (the closing handshake, deleting the reply queue) ending within
  ``CLOSE_TIMEOUT`` (1 s) whatever the broker does; past it a connection is dropped. A
  server's ``wait()`` closes its listener the same way. A consuming thread still opening a
  connection (at most 5 s) is not waited for: it drops the connection when it has it.
* AMQP heartbeats (``heartbeat_timeout_threshold``) are sent and checked by whoever reads a
  consuming connection, else by its keeping thread (green threads under eventlet), and by
  one thread for the publishing connections.

Threads and connections per transport: a pool of publishing connections (at most
``rpc_conn_pool_size``, opened on demand, with one heartbeat thread), one connection for
replies (opened on the first call), and one connection per listener. A consuming connection
is read by one thread at a time, under a lock: for a listener, the server's workers take
turns (:mod:`rpcmsg.driver.turns`) and the one that reads a message handles it; for replies,
the waiting callers take turns (the core's ``ReplyWaiter``). Each consuming connection also
has a keeping thread, which reads, beats and reconnects while nobody else reads.
Acknowledgements and other work from other threads are queued for the next reader
(``call_soon``). py-amqp is used directly on the hot path; kombu only provides the
compression codecs.

Capabilities are declared statically: ``durable`` holds only with ``amqp_durable_queues`` or
``rabbit_quorum_queue`` set (a class attribute cannot depend on configuration).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import amqp
from oslo_config import cfg

from rpcmsg._url import TransportURL
from rpcmsg.driver import JSON, Capabilities, Driver, Listener, ReplyConsumer, load_settings
from rpcmsg.driver.base import ReplyHandler
from rpcmsg.target import Target
from rpcmsg_drivers.amqp import codec
from rpcmsg_drivers.amqp.connection import Connector
from rpcmsg_drivers.amqp.listener import AMQPListener, AMQPReplyConsumer
from rpcmsg_drivers.amqp.options import GROUP, OPTIONS, Settings, prefetch_window
from rpcmsg_drivers.amqp.publisher import Publisher, wait_deadline
from rpcmsg_drivers.amqp.topology import Exchange, Topology

__all__ = ["AMQPDriver"]

_DEFAULT_EXCHANGE = Exchange("")


class AMQPDriver(Driver):
    """RabbitMQ driver; the module docstring is its spec sheet."""

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
        self.connector = Connector(url, self.settings)
        self.publisher = Publisher(self.connector)
        self._delivery_mode = 2 if self.settings.durable else 1

    # -- messages ----------------------------------------------------------------------

    def _message(
        self, body: bytes, content_type: str, expiration: float | None = None
    ) -> amqp.Message:
        body, properties, headers = codec.prepare(
            body,
            content_type,
            compression_method=self.settings.kombu_compression,
            delivery_mode=self._delivery_mode,
            expiration=expiration,
        )
        if headers:
            properties["application_headers"] = headers
        return amqp.Message(body, **properties)

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
        _check_body(body)
        exchange, key = self.topology.request_route(target, self.default_exchange)
        is_call = expiration is not None
        self.publisher.publish(
            exchange,
            key,
            self._message(body, content_type, expiration),
            confirm=not is_call,
            mandatory=mandatory,
            retry=retry,
            deadline=wait_deadline(expiration) if deadline is None else deadline,
        )

    def listen(self, target: Target, *, capacity: int | None = None) -> Listener:
        return AMQPListener(
            self.connector,
            self.topology.server_queues(target, self.default_exchange),
            prefetch=prefetch_window(self.settings, self.conf, capacity),
            name=f"rpcmsg-amqp-{target.topic or ''}",
        )

    def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        _check_body(body)
        self.publisher.publish(
            _DEFAULT_EXCHANGE,
            address,
            self._message(body, content_type),
            retry=retry,
            returnable=True,
        )

    def open_reply_consumer(
        self, on_reply: ReplyHandler, deadline: float | None = None
    ) -> ReplyConsumer:
        queue = self.topology.reply_queue(self.topology.reply_address())
        return AMQPReplyConsumer(self.connector, queue, on_reply, deadline)

    # -- notifications -----------------------------------------------------------------

    def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        _check_body(body)
        queue = self.topology.notification_queue(target, self.default_exchange)
        key = target.topic or ""
        self.publisher.publish(
            queue.exchange,
            key,
            self._message(body, content_type),
            confirm=True,
            retry=retry,
            queue=queue,
        )

    def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> Listener:
        queues = self.topology.notification_queues(targets, pool, self.default_exchange)
        return AMQPListener(
            self.connector,
            queues,
            prefetch_window(self.settings, self.conf, capacity),
            name="rpcmsg-amqp-notifications",
        )

    # -- lifecycle ---------------------------------------------------------------------

    def cleanup(self) -> None:
        self.publisher.close()


def _check_body(body: bytes) -> None:
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"message bodies are bytes, not {type(body).__name__}")
