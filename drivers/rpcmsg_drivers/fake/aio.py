"""The async fake driver (``fake://`` under ``rpcmsg.async_drivers``): the sync fake's
in-memory broker, read from an event loop.

Spec sheet: as the sync fake (:mod:`rpcmsg_drivers.fake.driver`): same features, routing,
prefetch window, expiration, mandatory sends, JSON-checked bodies; nothing sleeps or polls.
Both drivers share the process's brokers by virtual host, so a sync server and an async
client (or the reverse) talk over the same ``fake:///NAME`` URL.

Threads meet the loop only here: the broker hands a message to an async listener's inbox,
or a reply to an async transport's reply address, from whatever thread publishes; when that
is not the loop's thread, the wake-up goes through ``loop.call_soon_threadsafe``. Everything
else runs under the broker's lock, which is never held across an ``await``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from rpcmsg import _sync
from rpcmsg.driver import JSON, AsyncDriver, AsyncIncomingMessage, AsyncListener
from rpcmsg.driver.aio import AsyncReplyConsumer, AsyncReplyHandler
from rpcmsg.target import Target
from rpcmsg.transport import TransportURL
from rpcmsg_drivers.fake.broker import STOP, Consumer, FakeBroker, Message, Queue, get_broker
from rpcmsg_drivers.fake.driver import (
    FakeDriver,
    check_body,
    notification_queues,
    publish_notification,
    publish_request,
    server_queues,
    window_for,
)

__all__ = ["AsyncFakeDriver", "AsyncInbox"]

LOG = logging.getLogger(__name__)

_EMPTY: Any = object()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AsyncInbox:
    """A consumer's inbox read by tasks of one loop and filled from any thread.

    ``put`` and ``get_nowait`` (the broker's side, under its lock) are thread-safe;
    ``get`` runs in the loop. A waiting task is woken directly in the loop's thread, else
    through ``call_soon_threadsafe``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()
        self._items: collections.deque[Any] = collections.deque()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            waiter = self._waiters.popleft() if self._waiters else None
        if waiter is not None:
            self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        if threading.get_ident() == self._thread:
            _wake(waiter)
        else:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop is closed: nobody will read this inbox
                pass

    def get_nowait(self) -> Any:
        with self._lock:
            if self._items:
                return self._items.popleft()
        raise _sync.Empty

    async def get(self, timeout: float | None) -> Any:
        """The next item, or ``_EMPTY`` after ``timeout`` seconds."""
        loop = self._loop
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if deadline is not None and loop.time() >= deadline:
                    return _EMPTY
                waiter = loop.create_future()
                self._waiters.append(waiter)
            timer = None if deadline is None else loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    # A wake-up meant for this task goes to another waiting one.
                    other = self._waiters.popleft() if self._items and self._waiters else None
                if other is not None:
                    self._wake(other)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            with self._lock:
                if waiter in self._waiters:  # woken by its timer
                    self._waiters.remove(waiter)


class _AsyncIncoming(AsyncIncomingMessage):
    __slots__ = ("_listener", "_message", "body", "content_type", "redelivered")

    def __init__(self, listener: _AsyncFakeListener, message: Message) -> None:
        self._listener = listener
        self._message = message
        self.body = message.body
        self.content_type = message.content_type
        self.redelivered = message.redelivered

    async def ack(self) -> None:
        self._listener._settle(self._message)

    async def reject(self) -> None:
        self._listener._settle(self._message)

    async def requeue(self) -> None:
        if self._listener._settle(self._message):
            self._listener._broker.requeue(self._message)


class _AsyncFakeListener(AsyncListener):
    def __init__(self, broker: FakeBroker, exclusive: list[tuple[str, Queue]], window: int) -> None:
        self._broker = broker
        self._inbox = AsyncInbox(asyncio.get_running_loop())
        self._consumer = Consumer(window, self._inbox)
        self._exclusive = exclusive
        self._held: dict[int, Message] = {}
        self._stopped = False

    def _subscribe(self, queue: Queue) -> None:
        self._broker.subscribe(self._consumer, queue)

    def _settle(self, message: Message) -> bool:
        settled = self._held.pop(id(message), None) is not None
        if settled:
            self._broker.settled(self._consumer)
        return settled

    async def poll(self, timeout: float | None = None) -> AsyncIncomingMessage | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._stopped:
            left = None if deadline is None else max(0.0, deadline - loop.time())
            message = await self._inbox.get(left)
            if message is _EMPTY:
                return None
            if message is STOP:
                self._inbox.put(STOP)
                return None
            if message.expired():
                LOG.debug("Dropping an expired request")
                self._broker.settled(self._consumer)
                continue
            self._held[id(message)] = message
            return _AsyncIncoming(self, message)
        return None

    async def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._broker.unsubscribe(self._consumer)

    async def cleanup(self) -> None:
        await self.stop()
        held = list(self._held.values())
        self._held.clear()
        for message in held:
            self._broker.requeue(message)
        for exchange, queue in self._exclusive:
            self._broker.delete(exchange, queue)


class _AsyncFakeReplyConsumer(AsyncReplyConsumer):
    def __init__(self, broker: FakeBroker, on_reply: AsyncReplyHandler) -> None:
        self._broker = broker
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._on_reply = on_reply
        self.address = f"reply_{uuid.uuid4().hex}"
        with broker.lock:
            broker.replies[self.address] = self._deliver

    def _deliver(self, body: bytes, content_type: str) -> None:
        # Called by whoever replies: an async server on this loop, or a sync server's thread.
        if threading.get_ident() == self._thread:
            self._on_reply(body, content_type)
            return
        try:
            self._loop.call_soon_threadsafe(self._on_reply, body, content_type)
        except RuntimeError:
            LOG.debug("Reply to %s dropped: its event loop is closed", self.address)

    async def close(self) -> None:
        with self._broker.lock:
            self._broker.replies.pop(self.address, None)


class AsyncFakeDriver(AsyncDriver):
    """The async in-memory driver; see the module docstring."""

    capabilities = FakeDriver.capabilities
    option_group: ClassVar[str | None] = None

    def __init__(self, conf: Any, url: TransportURL, default_exchange: str) -> None:
        super().__init__(conf, url, default_exchange)
        self.broker = get_broker(url.virtual_host or "")

    @staticmethod
    def forget_broker(name: str) -> None:
        """Drop the broker of virtual host ``name`` (shared with the sync fake)."""
        FakeDriver.forget_broker(name)

    async def send(
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
        publish_request(
            self.broker, self.default_exchange, target, body, content_type, expiration, mandatory
        )

    async def listen(self, target: Target, *, capacity: int | None = None) -> AsyncListener:
        fanout, queues = server_queues(self.broker, self.default_exchange, target)
        listener = _AsyncFakeListener(self.broker, [fanout], window_for(self.conf, capacity))
        for queue in queues:
            listener._subscribe(queue)
        return listener

    async def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        check_body(body)
        handler = self.broker.replies.get(address)
        if handler is None:
            LOG.debug("Reply address %s is gone; dropping the reply", address)
            return
        handler(body, content_type)

    async def open_reply_consumer(
        self, on_reply: AsyncReplyHandler, deadline: float | None = None
    ) -> AsyncReplyConsumer:
        return _AsyncFakeReplyConsumer(self.broker, on_reply)

    async def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        check_body(body)
        publish_notification(self.broker, self.default_exchange, target, body, content_type)

    async def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> AsyncListener:
        listener = _AsyncFakeListener(self.broker, [], window_for(self.conf, capacity))
        for queue in notification_queues(self.broker, self.default_exchange, targets, pool):
            listener._subscribe(queue)
        return listener
