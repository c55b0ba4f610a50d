"""The arguments queues are declared and consumed with, as oslo.messaging builds them.

Both libraries must declare a queue with the same arguments, or RabbitMQ refuses the second
declaration (PRECONDITION_FAILED). Three kinds of queues:

* *work* queues (RPC topic and server queues, notification queues): ``x-queue-type: quorum``
  with ``rabbit_quorum_queue``, with the quorum limits (``x-delivery-limit``,
  ``x-max-in-memory-length``, ``x-max-in-memory-bytes``) that are set; no expiry.
* *reply* queues: the same quorum arguments under ``rabbit_transient_quorum_queue``, and
  ``x-expires`` from ``rabbit_transient_queues_ttl``.
* *fanout* queues: as reply queues; with ``rabbit_stream_fanout`` only
  ``x-queue-type: stream`` and ``x-max-age`` (the same TTL, as retention).

``rabbit_ha_queues`` adds ``x-ha-policy: all`` to every queue but streams. Consumers get
``x-cancel-on-ha-failover: true`` with ``enable_cancel_on_failover``; stream consumers get
``x-stream-offset`` instead (see :class:`~rpcmsg_drivers.amqp.consumer.ConsumerThread`).
"""

from __future__ import annotations

from typing import Any

from rpcmsg_drivers.amqp.options import Settings

__all__ = [
    "Arguments",
    "consume_arguments",
    "fanout_arguments",
    "reply_arguments",
    "work_arguments",
]

#: Declaration arguments in a hashable form (queues are kept in sets of declared things).
Arguments = tuple[tuple[str, Any], ...]


def _build(s: Settings, quorum: bool, ttl: int) -> Arguments:
    args: dict[str, Any] = {}
    if s.rabbit_ha_queues:
        args["x-ha-policy"] = "all"
    if quorum:
        args["x-queue-type"] = "quorum"
        if s.rabbit_quorum_delivery_limit:
            args["x-delivery-limit"] = s.rabbit_quorum_delivery_limit
        if s.rabbit_quorum_max_memory_length:
            args["x-max-in-memory-length"] = s.rabbit_quorum_max_memory_length
        if s.rabbit_quorum_max_memory_bytes:
            args["x-max-in-memory-bytes"] = s.rabbit_quorum_max_memory_bytes
    if ttl > 0:
        args["x-expires"] = ttl * 1000
    return tuple(args.items())


def work_arguments(s: Settings) -> Arguments:
    """Topic, server and notification queues."""
    return _build(s, s.rabbit_quorum_queue, 0)


def reply_arguments(s: Settings) -> Arguments:
    return _build(s, s.rabbit_transient_quorum_queue, s.rabbit_transient_queues_ttl)


def fanout_arguments(s: Settings) -> Arguments:
    if s.rabbit_stream_fanout:
        ttl = s.rabbit_transient_queues_ttl
        stream: Arguments = (("x-queue-type", "stream"),)
        return stream + ((("x-max-age", f"{ttl}s"),) if ttl > 0 else ())
    return _build(s, s.rabbit_transient_quorum_queue, s.rabbit_transient_queues_ttl)


def consume_arguments(s: Settings) -> Arguments:
    """What every consumer but a stream consumer passes to basic.consume."""
    return (("x-cancel-on-ha-failover", True),) if s.enable_cancel_on_failover else ()
