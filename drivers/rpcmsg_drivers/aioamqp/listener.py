"""Listeners (RPC servers, notification listeners) and the reply consumer, on asyncio.

A listener's deliveries go, in the loop, straight to a task waiting in ``poll`` (the first
one waiting), or into a buffer the next ``poll`` takes from; the buffer is bounded by the
prefetch window. Settling sends the ack or reject on the consuming channel; a message from
a connection that has died since is not settled (the broker requeued it) and is dropped
from the buffer. Replies are consumed without acknowledgements and pushed to ``on_reply``
as they arrive (no task per call, no thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

import aiormq.abc

from rpcmsg.driver.aio import (
    AsyncIncomingMessage,
    AsyncListener,
    AsyncReplyConsumer,
    AsyncReplyHandler,
)
from rpcmsg.driver.base import JSON
from rpcmsg_drivers.aioamqp.connection import AsyncConnector, background
from rpcmsg_drivers.aioamqp.consumer import AsyncConsumer
from rpcmsg_drivers.aioamqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS
from rpcmsg_drivers.amqp import codec
from rpcmsg_drivers.amqp.topology import Queue

__all__ = ["AsyncAMQPListener", "AsyncAMQPReplyConsumer"]

LOG = logging.getLogger(__name__)


def _decode(message: aiormq.abc.DeliveredMessage) -> tuple[bytes, str]:
    properties = message.header.properties
    return codec.decode(message.body, properties.headers), properties.content_type or JSON


class _Delivery(AsyncIncomingMessage):
    __slots__ = (
        "_generation",
        "_listener",
        "_settled",
        "_tag",
        "body",
        "content_type",
        "redelivered",
    )

    def __init__(
        self, listener: AsyncAMQPListener, message: aiormq.abc.DeliveredMessage, generation: int
    ) -> None:
        self._listener = listener
        tag = message.delivery_tag
        assert tag is not None
        self._tag = tag
        self._generation = generation
        self._settled = False
        self.body, self.content_type = _decode(message)
        self.redelivered = bool(getattr(message.delivery, "redelivered", False))

    async def ack(self) -> None:
        await self._listener._settle(self, "ack")

    async def requeue(self) -> None:
        await self._listener._settle(self, "requeue")

    async def reject(self) -> None:
        await self._listener._settle(self, "reject")


class AsyncAMQPListener(AsyncListener):
    """Consumes ``queues``; queues marked ``temporary`` are deleted at cleanup. The broker
    delivers at most ``prefetch`` unacknowledged messages over all the queues (at least one
    per queue: see :func:`~rpcmsg_drivers.amqp.topology.qos_windows`)."""

    def __init__(
        self,
        connector: AsyncConnector,
        queues: Sequence[Queue],
        prefetch: int,
        name: str = "rpcmsg-aioamqp-listener",
    ) -> None:
        self._temporary = [queue for queue in queues if queue.temporary]
        self._stopped = False
        self._ready: deque[_Delivery] = deque()
        self._waiters: deque[asyncio.Future[_Delivery | None]] = deque()
        self._consumer = AsyncConsumer(
            connector,
            queues,
            self._on_message,
            no_ack=False,
            prefetch=prefetch,
            name=name,
            on_lost=self._on_lost,
        )

    async def start(self) -> None:
        await self._consumer.start()

    # -- deliveries (in the loop) ------------------------------------------------------

    def _on_message(self, message: aiormq.abc.DeliveredMessage, generation: int) -> None:
        tag = message.delivery_tag
        if self._stopped:
            self._reject_soon(message.channel, tag, requeue=True)
            return
        try:
            delivery = _Delivery(self, message, generation)
        except Exception as exc:  # undecodable compression: nobody can ever read it
            LOG.error("Dropping a message that cannot be decompressed: %s", exc)
            self._reject_soon(message.channel, tag, requeue=False)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(delivery)
                return
        self._ready.append(delivery)

    @staticmethod
    def _reject_soon(channel: aiormq.abc.AbstractChannel, tag: int | None, requeue: bool) -> None:
        if tag is not None and not channel.is_closed:
            background(channel.basic_reject(tag, requeue=requeue))

    def _on_lost(self) -> None:
        """The connection died: what it delivered and nobody took is requeued already."""
        self._ready.clear()

    async def _settle(self, delivery: _Delivery, how: str) -> None:
        if delivery._settled:
            return
        delivery._settled = True
        consumer = self._consumer
        channel = consumer.channel
        if delivery._generation != consumer.generation or channel is None or channel.is_closed:
            return  # from a dead connection: the broker requeued it already
        try:
            if how == "ack":
                await channel.basic_ack(delivery._tag, wait=False)
            else:
                await channel.basic_reject(delivery._tag, requeue=how == "requeue", wait=False)
        except (*CONNECTION_ERRORS, *CHANNEL_ERRORS) as exc:
            LOG.debug("Could not %s a message (its connection is gone): %r", how, exc)

    # -- AsyncListener -----------------------------------------------------------------

    async def poll(self, timeout: float | None = None) -> AsyncIncomingMessage | None:
        if self._stopped:
            return None
        generation = self._consumer.generation
        while self._ready:
            delivery = self._ready.popleft()
            if delivery._generation == generation:
                return delivery
        waiter: asyncio.Future[_Delivery | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            return self._taken(waiter)
        except asyncio.CancelledError:
            # Handed a message just as we were cancelled: keep it for the next poll.
            got = self._taken(waiter)
            if got is not None:
                self._ready.appendleft(got)
            raise
        finally:
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass

    @staticmethod
    def _taken(waiter: asyncio.Future[_Delivery | None]) -> _Delivery | None:
        if waiter.done() and not waiter.cancelled():
            return waiter.result()
        return None

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        ready, self._ready = list(self._ready), deque()
        await self._consumer.cancel()
        for delivery in ready:  # delivered but never polled: back to their queues
            await delivery.requeue()

    async def cleanup(self) -> None:
        await self.stop()
        temporary = self._temporary

        async def delete(channel: aiormq.abc.AbstractChannel) -> None:
            for queue in temporary:
                await channel.queue_delete(queue.name)

        await self._consumer.close(final=delete if temporary else None)


class AsyncAMQPReplyConsumer(AsyncReplyConsumer):
    """The transport's reply queue ``reply_<uuid>``, consumed without acknowledgements;
    each reply is pushed to ``on_reply`` from aiormq's channel reader."""

    def __init__(
        self, connector: AsyncConnector, queue: Queue, on_reply: AsyncReplyHandler
    ) -> None:
        self.address = queue.name
        self._queue = queue
        self._on_reply = on_reply
        self._consumer = AsyncConsumer(
            connector,
            [queue],
            self._on_message,
            no_ack=True,
            prefetch=0,
            name="rpcmsg-aioamqp-replies",
        )

    async def start(self, deadline: float | None) -> None:
        # A call must end in MessagingTimeout, not in an error here, while the broker is
        # unreachable: the consumer keeps trying in the background.
        await self._consumer.start(deadline=deadline, background_retry=True)

    def _on_message(self, message: aiormq.abc.DeliveredMessage, generation: int) -> None:
        try:
            body, content_type = _decode(message)
        except Exception as exc:
            LOG.error("Dropping a reply that cannot be decompressed: %s", exc)
            return
        self._on_reply(body, content_type)

    async def close(self) -> None:
        name = self._queue.name

        async def delete(channel: aiormq.abc.AbstractChannel) -> None:
            await channel.queue_delete(name)

        await self._consumer.cancel()  # before the delete: no cancel notification then
        # A stable name (queue manager) is taken again by the next process: keep it.
        await self._consumer.close(final=delete if self._queue.temporary else None)
