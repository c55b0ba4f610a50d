"""Declaring the sync driver's exchanges and queues (:mod:`rpcmsg_drivers.amqp.topology`)
on an aiormq channel: the same names, flags and arguments, so that sync, async and
oslo.messaging processes declare the same things without a PRECONDITION_FAILED."""

from __future__ import annotations

import aiormq.abc

from rpcmsg_drivers.amqp.topology import Exchange, Queue

__all__ = ["declare_exchange", "declare_queue"]


async def declare_exchange(channel: aiormq.abc.AbstractChannel, exchange: Exchange) -> None:
    if exchange.name:
        await channel.exchange_declare(
            exchange.name,
            exchange_type=exchange.type,
            durable=exchange.durable,
            auto_delete=exchange.auto_delete,
        )


async def declare_queue(channel: aiormq.abc.AbstractChannel, queue: Queue) -> None:
    """Declare the queue's exchange, the queue and its bindings."""
    await declare_exchange(channel, queue.exchange)
    await channel.queue_declare(
        queue.name,
        durable=queue.durable,
        auto_delete=queue.auto_delete,
        arguments=dict(queue.arguments) or None,
    )
    if queue.exchange.name:
        for key in queue.keys:
            await channel.queue_bind(queue.name, queue.exchange.name, routing_key=key)
