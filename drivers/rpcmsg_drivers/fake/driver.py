"""The fake driver: rpcmsg over an in-memory broker, for unit tests and demos.

URL: ``fake://`` (the process's shared broker) or ``fake:///NAME`` (an isolated broker).

Features: call, cast, server-targeted cast, fanout, exchanges, notifications with pools,
requeue, request expiration, mandatory sends (``MessageUndeliverable``). Messages are bytes
encoded by the core exactly as for a real broker, so a payload JSON cannot carry fails here
as it would there. Nothing sleeps or polls: consumers block on their inbox and replies are
handed straight to the waiting caller.

Deadlines: nothing here waits on a broker, so every send returns at once, well within a
call's deadline.

Guarantees: within one process, at least once for casts and notifications: a message a
listener took but did not settle goes back to its queue when the listener is cleaned up.
Nothing survives the process. A listener holds at most twice ``executor_thread_pool_size``
messages unsettled (its prefetch window, as the AMQP driver's default); the rest wait in
their queues.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import ClassVar

from oslo_config import cfg

from rpcmsg.driver import JSON, Capabilities, Driver, IncomingMessage, Listener, ReplyConsumer
from rpcmsg.driver.base import ReplyHandler
from rpcmsg.exceptions import MessageUndeliverable
from rpcmsg.target import Target
from rpcmsg.transport import TransportURL
from rpcmsg_drivers.fake.broker import (
    STOP,
    Consumer,
    FakeBroker,
    Message,
    Queue,
    get_broker,
    reset_broker,
)

__all__ = ["FakeDriver"]

LOG = logging.getLogger(__name__)


class _Incoming(IncomingMessage):
    __slots__ = ("_listener", "_message", "body", "content_type", "redelivered")

    def __init__(self, listener: _FakeListener, message: Message) -> None:
        self._listener = listener
        self._message = message
        self.body = message.body
        self.content_type = message.content_type
        self.redelivered = message.redelivered

    def ack(self) -> None:
        self._listener._settle(self._message)

    def reject(self) -> None:
        self._listener._settle(self._message)

    def requeue(self) -> None:
        if self._listener._settle(self._message):
            self._listener._broker.requeue(self._message)


class _FakeListener(Listener):
    def __init__(self, broker: FakeBroker, exclusive: list[tuple[str, Queue]], window: int) -> None:
        self._broker = broker
        self._consumer = Consumer(window)
        self._exclusive = exclusive
        self._held: dict[int, Message] = {}
        self._held_lock = threading.Lock()
        self._stopped = False

    def _subscribe(self, queue: Queue) -> None:
        self._broker.subscribe(self._consumer, queue)

    def _settle(self, message: Message) -> bool:
        with self._held_lock:
            settled = self._held.pop(id(message), None) is not None
        if settled:
            self._broker.settled(self._consumer)
        return settled

    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        inbox = self._consumer.inbox
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._stopped:
                return None
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                message = inbox.get(timeout=left)
            except Exception:  # queue.Empty (or eventlet's): the timeout passed
                return None
            if message is STOP:
                inbox.put(STOP)
                return None
            if message.expired():
                LOG.debug("Dropping an expired request")
                self._broker.settled(self._consumer)
                continue
            with self._held_lock:
                self._held[id(message)] = message
            return _Incoming(self, message)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._broker.unsubscribe(self._consumer)

    def cleanup(self) -> None:
        self.stop()
        with self._held_lock:
            held = list(self._held.values())
            self._held.clear()
        for message in held:
            self._broker.requeue(message)
        for exchange, queue in self._exclusive:
            self._broker.delete(exchange, queue)


class _FakeReplyConsumer(ReplyConsumer):
    def __init__(self, broker: FakeBroker, on_reply: ReplyHandler) -> None:
        self._broker = broker
        self.address = f"reply_{uuid.uuid4().hex}"
        with broker.lock:
            broker.replies[self.address] = on_reply

    def close(self) -> None:
        with self._broker.lock:
            self._broker.replies.pop(self.address, None)


class FakeDriver(Driver):
    """In-memory driver; see the module docstring for its spec sheet."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        durable=False,
        at_least_once=True,
        mandatory=True,
        expiration=True,
        cross_process=False,
    )
    option_group: ClassVar[str | None] = None
    options: ClassVar[Sequence[cfg.Opt]] = ()

    def __init__(self, conf: cfg.ConfigOpts, url: TransportURL, default_exchange: str) -> None:
        super().__init__(conf, url, default_exchange)
        self.broker = get_broker(url.virtual_host or "")

    @staticmethod
    def forget_broker(name: str) -> None:
        """Drop the broker of virtual host ``name`` (the pytest plugin's per-test brokers)."""
        reset_broker(name)

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
        check_body(body)
        publish_request(self.broker, self.default_exchange, target, body, content_type,
                        expiration, mandatory)  # fmt: skip

    def listen(self, target: Target, *, capacity: int | None = None) -> Listener:
        fanout, queues = server_queues(self.broker, self.default_exchange, target)
        listener = _FakeListener(self.broker, [fanout], window_for(self.conf, capacity))
        for queue in queues:
            listener._subscribe(queue)
        return listener

    def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        check_body(body)
        handler = self.broker.replies.get(address)
        if handler is None:
            LOG.debug("Reply address %s is gone; dropping the reply", address)
            return
        handler(body, content_type)

    def open_reply_consumer(
        self, on_reply: ReplyHandler, deadline: float | None = None
    ) -> ReplyConsumer:
        return _FakeReplyConsumer(self.broker, on_reply)

    # -- notifications -----------------------------------------------------------------

    def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        check_body(body)
        publish_notification(self.broker, self.default_exchange, target, body, content_type)

    def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> Listener:
        listener = _FakeListener(self.broker, [], window_for(self.conf, capacity))
        for queue in notification_queues(self.broker, self.default_exchange, targets, pool):
            listener._subscribe(queue)
        return listener


def publish_request(
    broker: FakeBroker,
    default_exchange: str,
    target: Target,
    body: bytes,
    content_type: str,
    expiration: float | None,
    mandatory: bool,
) -> None:
    """Route a request as AMQP would (shared by the sync and async fake drivers)."""
    topic = target.topic or ""
    expires_at = None if expiration is None else time.monotonic() + expiration
    message = Message(body, content_type, expires_at)
    if target.fanout:
        exchange, key = f"{topic}_fanout", topic
    elif target.server:
        exchange, key = target.exchange or default_exchange, f"{topic}.{target.server}"
    else:
        exchange, key = target.exchange or default_exchange, topic
    if not broker.publish(exchange, key, message) and mandatory:
        raise MessageUndeliverable(None, exchange, key, None)


def window_for(conf: cfg.ConfigOpts, capacity: int | None) -> int:
    """A listener's prefetch window, as the AMQP driver's default: two messages per handler
    of its server (``capacity``; ``executor_thread_pool_size`` without one). Sync and async
    fakes alike."""
    return 2 * max(1, int(capacity or conf.executor_thread_pool_size))


def server_queues(
    broker: FakeBroker, default_exchange: str, target: Target
) -> tuple[tuple[str, Queue], list[Queue]]:
    """Declare a server's queues: its exclusive fanout queue (with its exchange), and the
    queues to consume: ``<topic>``, ``<topic>.<server>`` and the fanout one."""
    exchange = target.exchange or default_exchange
    topic = target.topic or ""
    fanout_exchange = f"{topic}_fanout"
    fanout = broker.declare(
        fanout_exchange, f"{topic}_fanout_{uuid.uuid4().hex}", [topic], exclusive=True
    )
    server_key = f"{topic}.{target.server}"
    queues = [
        broker.declare(exchange, topic, [topic]),
        broker.declare(exchange, server_key, [server_key]),
        fanout,
    ]
    return (fanout_exchange, fanout), queues


def notification_queues(
    broker: FakeBroker, default_exchange: str, targets: Sequence[Target], pool: str | None
) -> list[Queue]:
    """Declare the queues a notification listener of ``pool`` consumes."""
    queues: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        exchange = target.exchange or default_exchange
        key = target.topic or ""
        queues.setdefault((exchange, pool or key), []).append(key)
    return [broker.declare(exchange, name, keys) for (exchange, name), keys in queues.items()]


def publish_notification(
    broker: FakeBroker, default_exchange: str, target: Target, body: bytes, content_type: str
) -> None:
    """Publish a notification, declaring the address's default queue first."""
    exchange = target.exchange or default_exchange
    key = target.topic or ""
    broker.declare(exchange, key, [key])
    broker.publish(exchange, key, Message(body, content_type, None))


def check_body(body: bytes) -> None:
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"message bodies are bytes, not {type(body).__name__}")
