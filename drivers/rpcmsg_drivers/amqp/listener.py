"""Listeners (RPC servers, notification listeners) and the reply consumer.

A listener owns one :class:`~rpcmsg_drivers.amqp.consumer.ConsumerThread`: the thread puts
each delivery in an inbox that ``poll`` reads, from any number of worker threads; settling a
message is handed back to the thread. Replies are consumed without acknowledgements (a reply
is worth nothing once its caller is gone), read by the waiting callers themselves.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import amqp

from rpcmsg import _sync
from rpcmsg.driver.base import JSON, IncomingMessage, Listener, ReplyConsumer, ReplyHandler
from rpcmsg_drivers.amqp import codec
from rpcmsg_drivers.amqp.connection import Connector
from rpcmsg_drivers.amqp.consumer import ConsumerThread
from rpcmsg_drivers.amqp.topology import Queue

__all__ = ["AMQPListener", "AMQPReplyConsumer", "body_of"]

LOG = logging.getLogger(__name__)

#: Put in the inbox to wake pollers once the listener is stopped.
_STOP: Any = object()


def body_of(message: amqp.Message) -> bytes:
    """The message body as bytes, decompressed when a kombu compression header says so."""
    body = message.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = message.properties.get("application_headers") or {}
    method = headers.get(codec.HEADER)
    if method:
        body = codec.decompress(body, method)
    return bytes(body)


class _Delivery(IncomingMessage):
    __slots__ = ("_generation", "_listener", "_tag", "body", "content_type", "redelivered")

    def __init__(self, listener: AMQPListener, message: amqp.Message, generation: int) -> None:
        self._listener = listener
        self._tag = message.delivery_tag
        self._generation = generation
        self.body = body_of(message)
        self.content_type = message.properties.get("content_type") or JSON
        self.redelivered = bool(message.delivery_info.get("redelivered"))

    def ack(self) -> None:
        self._listener._settle(self._tag, self._generation, "ack")

    def requeue(self) -> None:
        self._listener._settle(self._tag, self._generation, "requeue")

    def reject(self) -> None:
        self._listener._settle(self._tag, self._generation, "reject")


class AMQPListener(Listener):
    """Consumes ``queues``; see the module docstring. ``temporary`` queues are deleted at
    cleanup (the per-listener fanout queue)."""

    def __init__(
        self,
        connector: Connector,
        queues: Sequence[Queue],
        temporary: Sequence[Queue] = (),
        name: str = "rpcmsg-amqp-listener",
    ) -> None:
        self._inbox = _sync.new_queue()
        self._stopped = False
        self._temporary = list(temporary)
        self._prefetch = connector.settings.rabbit_qos_prefetch_count
        self._consumer = ConsumerThread(
            connector,
            queues,
            self._on_message,
            no_ack=False,
            prefetch=connector.settings.rabbit_qos_prefetch_count,
            name=name,
        )
        self._consumer.start()

    # -- consumer thread side ----------------------------------------------------------

    def _on_message(self, message: amqp.Message, generation: int) -> None:
        if self._stopped:
            tag = message.delivery_tag
            self._consumer.call_soon(lambda ch: ch.basic_reject(tag, requeue=True))
            return
        try:
            delivery = _Delivery(self, message, generation)
        except Exception as exc:  # undecodable compression: nobody can ever read it
            LOG.error("Dropping a message that cannot be decompressed: %s", exc)
            tag = message.delivery_tag
            self._consumer.call_soon(lambda ch: ch.basic_reject(tag, requeue=False))
            return
        self._inbox.put(delivery)

    def _settle(self, tag: int, generation: int, how: str) -> None:
        consumer = self._consumer

        def settle(channel: Any) -> None:
            if generation != consumer.generation or channel is None:
                return  # from a dead connection: the broker requeued it already
            if how == "ack":
                channel.basic_ack(tag)
            else:
                channel.basic_reject(tag, requeue=how == "requeue")

        # Acknowledgements ride along with the thread's next wake-up instead of waking it
        # (which costs the call path a thread switch), unless a prefetch limit makes the
        # broker wait for them before delivering more. Requeues (rare) go out at once.
        urgent = how != "ack" or self._prefetch > 0 or self._stopped
        consumer.call_soon(settle, urgent=urgent)

    # -- Listener ----------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._stopped:
            return None
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            item = self._inbox.get(timeout=left)
        except _sync.Empty:
            return None
        if item is _STOP:
            self._inbox.put(_STOP)
            return None
        delivery: IncomingMessage = item
        return delivery

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._consumer.call_soon(self._consumer.cancel)
        # Messages delivered but never polled go back to their queues.
        while True:
            try:
                item = self._inbox.get_nowait()
            except _sync.Empty:
                break
            if isinstance(item, _Delivery):
                item.requeue()
        self._inbox.put(_STOP)

    def cleanup(self) -> None:
        self.stop()
        temporary = self._temporary

        def delete(channel: Any) -> None:
            for queue in temporary:
                channel.queue_delete(queue.name)

        self._consumer.close(final=delete if temporary else None)


class AMQPReplyConsumer(ReplyConsumer):
    """The transport's reply queue ``reply_<uuid>``, consumed without acknowledgements.

    Polled: the callers waiting for replies read them (see ``ConsumerThread.poll``)."""

    polled: ClassVar[bool] = True

    def __init__(self, connector: Connector, queue_for: Any, on_reply: ReplyHandler) -> None:
        self.address = f"reply_{uuid.uuid4().hex}"
        self._queue: Queue = queue_for(self.address)
        self._on_reply = on_reply
        self._consumer = ConsumerThread(
            connector,
            [self._queue],
            self._on_message,
            no_ack=True,
            prefetch=0,
            name="rpcmsg-amqp-replies",
            polled=True,
        )
        # A call must end in MessagingTimeout, not in an error here, while the broker is
        # unreachable: the consumer keeps trying in the background.
        self._consumer.start(background=True)

    def _on_message(self, message: amqp.Message, generation: int) -> None:
        try:
            body = body_of(message)
        except Exception as exc:
            LOG.error("Dropping a reply that cannot be decompressed: %s", exc)
            return
        self._on_reply(body, message.properties.get("content_type") or JSON)

    def poll(self, timeout: float) -> None:
        self._consumer.poll(timeout)

    def close(self) -> None:
        name = self._queue.name
        self._consumer.close(final=lambda channel: channel.queue_delete(name))
