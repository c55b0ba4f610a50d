"""How rpcmsg's addresses map onto RabbitMQ exchanges and queues (oslo.messaging's layout).

* RPC: topic exchange ``<exchange>``; shared queue ``<topic>`` and server queue
  ``<topic>.<server>`` bound with their own names as keys; fanout exchange
  ``<topic>_fanout`` with one queue ``<topic>_fanout_<uuid>`` per listener (with
  ``use_queue_manager``: ``<topic>_fanout_<host>:<process>:<n>``, see
  :mod:`rpcmsg_drivers.amqp.qmanager`), or with ``rabbit_stream_fanout`` one stream queue
  ``<topic>_fanout`` that every listener reads.
* Replies: queue ``reply_<uuid>`` (or ``reply_<host>:<process>:<n>``) on the default
  exchange.
* Notifications: topic exchange ``<exchange>``, queue ``<topic>.<priority>`` (or the pool's
  name) bound with key ``<topic>.<priority>``.

The declaration arguments equal oslo.messaging's for the same options (see
:mod:`rpcmsg_drivers.amqp.arguments`), so that processes of both libraries can declare the
same queues without a PRECONDITION_FAILED conflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rpcmsg.target import Target
from rpcmsg_drivers.amqp import arguments as args
from rpcmsg_drivers.amqp.options import Settings
from rpcmsg_drivers.amqp.qmanager import QueueManager

__all__ = ["Exchange", "Queue", "Topology", "qos_windows"]


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str = "topic"
    durable: bool = False
    auto_delete: bool = False

    def declare(self, channel: Any) -> None:
        if self.name:
            channel.exchange_declare(
                self.name, self.type, durable=self.durable, auto_delete=self.auto_delete
            )


@dataclass(frozen=True)
class Queue:
    name: str
    exchange: Exchange
    keys: tuple[str, ...]
    durable: bool = False
    auto_delete: bool = False
    arguments: args.Arguments = field(default=())
    #: Passed to basic.consume (a stream queue's consumer adds its offset).
    consume_arguments: args.Arguments = field(default=())
    #: A stream: consumers read it from an offset, and nobody deletes it.
    stream: bool = False
    #: Deleted when its listener is cleaned up (a fanout queue with a random name).
    temporary: bool = False

    @property
    def classic(self) -> bool:
        """A classic queue: the only kind RabbitMQ lets share a channel-wide prefetch
        window (quorum queues and streams refuse consumers on a channel with one)."""
        return bool(dict(self.arguments).get("x-queue-type", "classic") == "classic")

    def declare(self, channel: Any) -> None:
        """Declare the exchange, the queue and its bindings."""
        self.exchange.declare(channel)
        channel.queue_declare(
            self.name,
            durable=self.durable,
            auto_delete=self.auto_delete,
            arguments=dict(self.arguments) or None,
        )
        for key in self.keys:
            if self.exchange.name:
                channel.queue_bind(self.name, self.exchange.name, key)


class Topology:
    """Builds the exchanges and queues for one transport's settings."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self._work = args.work_arguments(settings)
        self._reply = args.reply_arguments(settings)
        self._fanout = args.fanout_arguments(settings)
        self._consume = args.consume_arguments(settings)
        self.qmanager = (
            QueueManager(settings.hostname, settings.processname)
            if settings.use_queue_manager
            else None
        )

    def _unique(self) -> str:
        return self.qmanager.next_name() if self.qmanager else uuid.uuid4().hex

    def topic_exchange(self, name: str) -> Exchange:
        return Exchange(name, "topic", self.s.durable, self.s.amqp_auto_delete)

    def fanout_exchange(self, topic: str) -> Exchange:
        return Exchange(f"{topic}_fanout", "fanout", self.s.transient_durable, True)

    def topic_queue(self, exchange: str, name: str, keys: tuple[str, ...]) -> Queue:
        """A queue that holds work: durable when configured, quorum when asked for."""
        return Queue(
            name,
            self.topic_exchange(exchange),
            keys,
            durable=self.s.durable,
            auto_delete=self.s.amqp_auto_delete,
            arguments=self._work,
            consume_arguments=self._consume,
        )

    def fanout_queue(self, topic: str) -> Queue:
        """The fanout queue of a new listener (one shared stream with stream fanout)."""
        stream = self.s.rabbit_stream_fanout
        return Queue(
            f"{topic}_fanout" if stream else f"{topic}_fanout_{self._unique()}",
            self.fanout_exchange(topic),
            (topic,),
            durable=self.s.transient_durable,
            arguments=self._fanout,
            consume_arguments=() if stream else self._consume,
            stream=stream,
            temporary=not stream and self.qmanager is None,
        )

    def reply_address(self) -> str:
        """A new reply queue name."""
        return f"reply_{self._unique()}"

    def reply_queue(self, name: str) -> Queue:
        return Queue(
            name,
            Exchange(""),
            (),
            durable=self.s.rabbit_transient_quorum_queue,
            arguments=self._reply,
            consume_arguments=self._consume,
            temporary=self.qmanager is None,
        )

    # -- what the driver methods address ------------------------------------------------

    def request_route(self, target: Target, default_exchange: str) -> tuple[Exchange, str]:
        """The exchange and routing key of an RPC request to ``target``."""
        topic = target.topic or ""
        if target.fanout:
            return self.fanout_exchange(topic), topic
        exchange = self.topic_exchange(target.exchange or default_exchange)
        return exchange, f"{topic}.{target.server}" if target.server else topic

    def server_queues(self, target: Target, default_exchange: str) -> list[Queue]:
        """What an RPC server consumes: the topic's queue, its own and a fanout copy."""
        exchange = target.exchange or default_exchange
        topic = target.topic or ""
        server_key = f"{topic}.{target.server}"
        return [
            self.topic_queue(exchange, topic, (topic,)),
            self.topic_queue(exchange, server_key, (server_key,)),
            self.fanout_queue(topic),
        ]

    def notification_queue(self, target: Target, default_exchange: str) -> Queue:
        """The default (pool-less) queue of a notification address, declared by senders."""
        key = target.topic or ""
        return self.topic_queue(target.exchange or default_exchange, key, (key,))

    def notification_queues(
        self, targets: Sequence[Target], pool: str | None, default_exchange: str
    ) -> list[Queue]:
        """What a notification listener of ``pool`` consumes: per exchange, the pool's queue
        (or each address's own without a pool) bound to every address."""
        keys: dict[tuple[str, str], list[str]] = {}
        for target in targets:
            exchange = target.exchange or default_exchange
            key = target.topic or ""
            keys.setdefault((exchange, pool or key), []).append(key)
        return [
            self.topic_queue(exchange, name, tuple(bound))
            for (exchange, name), bound in keys.items()
        ]


def qos_windows(queues: Sequence[Queue], prefetch: int) -> list[tuple[int, bool]]:
    """The ``basic.qos`` settings (count, global) that bound the unsettled messages of a
    channel consuming ``queues`` by ``prefetch`` in all, for the sync and async listeners.

    RabbitMQ's ``global`` means the channel (all its consumers), no ``global`` each
    consumer: with classic queues only, both (each consumer may take the whole window, the
    channel no more). Quorum queues and streams refuse a channel-wide window, so there each
    consumer gets an equal share of it, at least one message: ``len(queues)`` in all when the
    window is smaller than that.
    """
    if all(queue.classic for queue in queues):
        return [(prefetch, False), (prefetch, True)]
    return [(max(1, prefetch // max(1, len(queues))), False)]
