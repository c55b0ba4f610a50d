"""How rpcmsg's addresses map onto RabbitMQ exchanges and queues (oslo.messaging's layout).

* RPC: topic exchange ``<exchange>``; shared queue ``<topic>`` and server queue
  ``<topic>.<server>`` bound with their own names as keys; fanout exchange
  ``<topic>_fanout`` with one queue ``<topic>_fanout_<uuid>`` per listener.
* Replies: queue ``reply_<uuid>`` on the default exchange.
* Notifications: topic exchange ``<exchange>``, queue ``<topic>.<priority>`` (or the pool's
  name) bound with key ``<topic>.<priority>``.

The declaration arguments equal oslo.messaging's for the same options, so that processes of
both libraries can declare the same queues without a PRECONDITION_FAILED conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rpcmsg_drivers.amqp.options import Settings

__all__ = ["Exchange", "Queue", "Topology"]


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
    arguments: tuple[tuple[str, Any], ...] = field(default=())

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
        self._ttl = (
            (("x-expires", settings.rabbit_transient_queues_ttl * 1000),)
            if settings.rabbit_transient_queues_ttl > 0
            else ()
        )
        self._durable_args = (("x-queue-type", "quorum"),) if settings.rabbit_quorum_queue else ()

    def topic_exchange(self, name: str) -> Exchange:
        return Exchange(name, "topic", self.s.durable, self.s.amqp_auto_delete)

    def fanout_exchange(self, topic: str) -> Exchange:
        return Exchange(f"{topic}_fanout", "fanout", False, True)

    def topic_queue(self, exchange: str, name: str, keys: tuple[str, ...]) -> Queue:
        """A queue that holds work: durable when configured, quorum when asked for."""
        return Queue(
            name,
            self.topic_exchange(exchange),
            keys,
            durable=self.s.durable,
            auto_delete=self.s.amqp_auto_delete,
            arguments=self._durable_args,
        )

    def fanout_queue(self, topic: str, unique: str) -> Queue:
        return Queue(
            f"{topic}_fanout_{unique}",
            self.fanout_exchange(topic),
            (topic,),
            arguments=self._ttl,
        )

    def reply_queue(self, name: str) -> Queue:
        return Queue(name, Exchange(""), (), arguments=self._ttl)
