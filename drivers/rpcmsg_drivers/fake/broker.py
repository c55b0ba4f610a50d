"""An in-memory broker with AMQP's routing model: exchanges, bindings, queues, consumers.

Every ``fake://`` transport of a process with the same virtual host shares one broker, so a
server and a client built on different transports find each other as through a real broker;
``fake:///name`` gives an isolated broker (the pytest plugin uses one per test). All state is
in :class:`FakeBroker` instances; the only module state is the registry of brokers by name.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from rpcmsg import _sync

__all__ = ["FakeBroker", "get_broker", "reset_broker"]

#: Put in an inbox to wake its pollers once the consumer is stopped.
STOP: Any = object()


class Message:
    """A message held by the broker."""

    __slots__ = ("body", "content_type", "expires_at", "queue", "redelivered")

    def __init__(self, body: bytes, content_type: str, expires_at: float | None) -> None:
        self.body = body
        self.content_type = content_type
        self.expires_at = expires_at
        self.redelivered = False
        self.queue: Queue | None = None

    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() > self.expires_at


class Consumer:
    """One listener's subscription: messages from its queues land in its inbox, at most
    ``window`` of them unsettled at a time (a prefetch window); the rest wait in the queues."""

    def __init__(self, window: int, inbox: Any = None) -> None:
        #: ``put``, ``get_nowait`` (raising ``_sync.Empty``): a blocking queue for the sync
        #: driver's pollers, an event loop's inbox (``aio.AsyncInbox``) for the async one's.
        self.inbox = _sync.new_queue() if inbox is None else inbox
        self.queues: list[Queue] = []
        self.active = True
        self.window = window
        #: Handed to this consumer and not settled yet. Guarded by the broker lock.
        self.unsettled = 0


class Queue:
    """Messages wait here until a consumer takes them; consumers compete round-robin."""

    def __init__(self, name: str, exclusive: bool = False) -> None:
        self.name = name
        self.exclusive = exclusive
        self.backlog: collections.deque[Message] = collections.deque()
        self.consumers: list[Consumer] = []
        self._turn = itertools.count()

    def put(self, message: Message) -> None:
        """Hand ``message`` to the next consumer with room, or keep it. Caller holds the
        broker lock."""
        message.queue = self
        consumer = self._next_with_room()
        if consumer is None:
            self.backlog.append(message)
        else:
            consumer.unsettled += 1
            consumer.inbox.put(message)

    def _next_with_room(self) -> Consumer | None:
        for _ in range(len(self.consumers)):
            consumer = self.consumers[next(self._turn) % len(self.consumers)]
            if consumer.unsettled < consumer.window:
                return consumer
        return None

    def hand_out(self) -> None:
        """Give waiting messages to consumers with room. Caller holds the broker lock."""
        while self.backlog:
            consumer = self._next_with_room()
            if consumer is None:
                return
            consumer.unsettled += 1
            consumer.inbox.put(self.backlog.popleft())


class FakeBroker:
    """Routing state of one fake broker. Thread-safe; never sleeps or polls."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.lock = threading.RLock()
        self.queues: dict[tuple[str, str], Queue] = {}
        # (exchange, routing key) -> queues bound with that key
        self.bindings: dict[tuple[str, str], list[Queue]] = {}
        self.replies: dict[str, Callable[[bytes, str], None]] = {}

    # -- topology ----------------------------------------------------------------------

    def declare(self, exchange: str, name: str, keys: list[str], exclusive: bool = False) -> Queue:
        """Create (or find) queue ``name`` of ``exchange`` and bind it with ``keys``."""
        with self.lock:
            queue = self.queues.get((exchange, name))
            if queue is None:
                queue = Queue(name, exclusive)
                self.queues[(exchange, name)] = queue
            for key in keys:
                bound = self.bindings.setdefault((exchange, key), [])
                if queue not in bound:
                    bound.append(queue)
            return queue

    def delete(self, exchange: str, queue: Queue) -> None:
        with self.lock:
            self.queues.pop((exchange, queue.name), None)
            for bound in self.bindings.values():
                if queue in bound:
                    bound.remove(queue)

    # -- publishing --------------------------------------------------------------------

    def publish(self, exchange: str, key: str, message: Message) -> int:
        """Copy ``message`` to every queue bound with ``key``; returns how many took it."""
        with self.lock:
            bound = self.bindings.get((exchange, key))
            if not bound:
                return 0
            first = True
            for queue in bound:
                if first:
                    queue.put(message)
                    first = False
                else:
                    copy = Message(message.body, message.content_type, message.expires_at)
                    queue.put(copy)
            return len(bound)

    # -- consuming ---------------------------------------------------------------------

    def subscribe(self, consumer: Consumer, queue: Queue) -> None:
        with self.lock:
            queue.consumers.append(consumer)
            consumer.queues.append(queue)
            queue.hand_out()

    def settled(self, consumer: Consumer) -> None:
        """One message handed to ``consumer`` was settled: room for another."""
        with self.lock:
            consumer.unsettled -= 1
            for queue in consumer.queues:
                queue.hand_out()

    def unsubscribe(self, consumer: Consumer) -> None:
        """Detach ``consumer`` and give back what waits unread in its inbox."""
        with self.lock:
            consumer.active = False
            for queue in consumer.queues:
                if consumer in queue.consumers:
                    queue.consumers.remove(consumer)
            pending = []
            while True:
                try:
                    item = consumer.inbox.get_nowait()
                except _sync.Empty:
                    break
                if item is not STOP:
                    pending.append(item)
            consumer.unsettled -= len(pending)
            for message in pending:
                self.requeue(message)
            consumer.inbox.put(STOP)

    def requeue(self, message: Message) -> None:
        with self.lock:
            queue = message.queue
            if queue is None:
                return
            message.redelivered = True
            queue.put(message)


_brokers: dict[str, FakeBroker] = {}
_brokers_lock = threading.Lock()


def get_broker(name: str = "") -> FakeBroker:
    """The process's broker for a virtual host name, created on first use."""
    broker = _brokers.get(name)
    if broker is None:
        with _brokers_lock:
            broker = _brokers.setdefault(name, FakeBroker(name))
    return broker


def reset_broker(name: str = "") -> None:
    """Forget a broker: transports created afterwards start from an empty one."""
    with _brokers_lock:
        _brokers.pop(name, None)
