"""Listeners (RPC servers, notification listeners) and the reply consumer.

A listener owns one polled :class:`~rpcmsg_drivers.amqp.consumer.ConsumerThread`: its
pollers (the server's workers) take turns reading the connection
(:class:`rpcmsg.driver.turns.Turns`), and the one that reads a message handles it, with no
hand-off between threads; messages read beyond the first wait for the other pollers.
Settling a message is handed to whoever reads the connection next (``call_soon``). While no
poller reads, the consumer's own thread keeps the connection: it reads, beats and
reconnects. Replies are consumed without acknowledgements (a reply is worth nothing once its
caller is gone), read by the waiting callers themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import amqp

from rpcmsg.driver.base import JSON, IncomingMessage, Listener, ReplyConsumer, ReplyHandler
from rpcmsg.driver.turns import READ, Pace, Turns
from rpcmsg_drivers.amqp import codec
from rpcmsg_drivers.amqp.connection import Connector
from rpcmsg_drivers.amqp.consumer import IDLE_WAIT, ConsumerThread
from rpcmsg_drivers.amqp.topology import Queue

__all__ = ["AMQPListener", "AMQPReplyConsumer", "body_of"]

LOG = logging.getLogger(__name__)


def body_of(message: amqp.Message) -> bytes:
    """The message body as bytes, decompressed when a kombu compression header says so."""
    return codec.decode(message.body, message.properties.get("application_headers"))


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
    """Consumes ``queues``; see the module docstring. Queues marked ``temporary`` (a fanout
    queue with a random name) are deleted at cleanup. The broker delivers at most
    ``prefetch`` unacknowledged messages per queue, which bounds what waits in the process."""

    def __init__(
        self,
        connector: Connector,
        queues: Sequence[Queue],
        prefetch: int,
        name: str = "rpcmsg-amqp-listener",
    ) -> None:
        self._turns = Turns()
        self._pace = Pace()
        self._stopped = False
        self._temporary = [queue for queue in queues if queue.temporary]
        self._prefetch = prefetch
        # Delivered and not settled yet (all queues): acknowledgements become urgent once
        # half a window is held, so that the broker never waits long for them.
        self._held = 0
        self._held_lock = threading.Lock()
        # While a poller holds the turn and reads: its thread, and what it read.
        self._reader: int | None = None
        self._mine: list[_Delivery] = []
        self._consumer = ConsumerThread(
            connector,
            queues,
            self._on_message,
            no_ack=False,
            prefetch=prefetch,
            name=name,
            polled=True,
        )
        self._consumer.start()

    # -- whoever reads the connection --------------------------------------------------

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
        with self._held_lock:
            self._held += 1
        if self._reader == threading.get_ident():
            self._mine.append(delivery)
        else:
            self._turns.put(delivery)

    def _settle(self, tag: int, generation: int, how: str) -> None:
        consumer = self._consumer

        def settle(channel: Any) -> None:
            if generation != consumer.generation or channel is None:
                return  # from a dead connection: the broker requeued it already
            if how == "ack":
                channel.basic_ack(tag)
            else:
                channel.basic_reject(tag, requeue=how == "requeue")

        with self._held_lock:
            self._held -= 1
            held = self._held
        # Acknowledgements ride along with the next read instead of interrupting a blocked
        # reader (which costs the call path a thread switch), unless the prefetch window is
        # half full and the broker may soon wait for them. Requeues (rare) go out at once.
        urgent = how != "ack" or held >= self._prefetch // 2 or self._stopped
        consumer.call_soon(settle, urgent=urgent)

    # -- Listener ----------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        if self._stopped:
            return None
        self._pace.back()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            item = self._turns.next(left, may_read=True)
            if item is READ:
                item = self._read(deadline)
            if item is None:
                return None
            delivery: _Delivery = item
            if self._stopped:
                delivery.requeue()
                return None
            self._pace.away()
            return delivery

    def _read(self, deadline: float | None) -> _Delivery | None:
        """Holding the turn: read until a message comes, the ``deadline`` passes or the
        listener stops; then pass the turn on."""
        try:
            while not self._stopped:
                waiting: _Delivery | None = self._turns.take_nowait()
                if waiting is not None:
                    return waiting
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._reader = threading.get_ident()
                try:
                    self._consumer.poll(IDLE_WAIT if left is None else min(left, IDLE_WAIT))
                finally:
                    self._reader = None
                mine, self._mine = self._mine, []
                if mine and self._stopped:
                    for delivery in mine:
                        delivery.requeue()
                elif mine:
                    for extra in mine[1:]:
                        self._turns.put(extra)
                    return mine[0]
            return None
        finally:
            self._turns.end_turn(eager=self._pace.eager)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._consumer.call_soon(self._consumer.cancel)
        # Messages delivered but never polled go back to their queues.
        for item in self._turns.drain():
            item.requeue()
        self._turns.stop()

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

    def __init__(
        self,
        connector: Connector,
        queue: Queue,
        on_reply: ReplyHandler,
        deadline: float | None = None,
    ) -> None:
        self.address = queue.name
        self._queue = queue
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
        # unreachable: the consumer keeps trying in the background. The first try ends by
        # the first call's deadline.
        self._consumer.start(background=True, deadline=deadline)

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
        # A stable name (queue manager) is taken again by the next process: keep it.
        final = (lambda channel: channel.queue_delete(name)) if self._queue.temporary else None
        self._consumer.close(final=final)
