"""The asyncio twin of the driver contract (:mod:`rpcmsg.driver.base`).

An async driver moves the same opaque bodies between the same addresses as a sync driver,
with the same semantics, but its methods are coroutines run on the caller's event loop, doing
their broker I/O natively (``redis.asyncio``, an asyncio AMQP client, an in-memory fake): no
thread is handed a message on the async path. Everything above the seam (message format,
serializers, reply correlation, timeouts, the call monitor, dispatch, versioning, remote
errors) is the same core code as the sync side; only the I/O differs, as with httpx's
``BaseTransport`` / ``AsyncBaseTransport``. A sync and an async process on the same URL and
configuration talk to each other: the addressing (``base`` module docstring), the queue
arguments and the wire format are the same.

An async driver is registered under the ``rpcmsg.async_drivers`` entry points, by the same
names as its sync twin (``fake``, ``rabbit``, ``redis`` ...), and shares the sync twin's
``option_group`` and ``options``: one configuration serves both sides. A driver may exist on
one side only (a NATS JetStream driver, whose client is asyncio-only, may register only here).

Methods:

* ``send`` / ``listen``                        RPC requests (call and cast)
* ``send_reply`` / ``open_reply_consumer``     replies to calls
* ``send_notification`` / ``listen_for_notifications``
* ``aclose``

Loop. A driver instance belongs to the event loop that first awaits one of its coroutines;
using it from another loop is an error. Its background work (consumers, heartbeats,
reconnection) runs as tasks on that loop, created lazily, never in threads.

Deadlines are as in the sync contract: ``deadline`` is a ``time.monotonic()`` value (the
clock of asyncio's default ``loop.time()``); a coroutine given one returns or raises
``MessagingTimeout`` by then, bounding connects, handshakes, declarations and writes by the
time left. A send without a deadline ends within its ``retry`` budget (``None``/``-1`` for
ever, ``0`` once, ``N`` at most ``N + 1`` attempts).

Cancellation. Every coroutine may be cancelled at any ``await`` (a task cancelled, an
``asyncio.timeout()`` expiring). The driver stays usable: a cancelled ``send`` may or may
not have published its message but leaves no half-written frame and no lock held; a
cancelled ``poll`` loses no message (one already taken from the broker is kept for the next
``poll`` or given back to its queue); ``CancelledError`` always propagates.

Broker library errors never cross this seam: drivers raise
:class:`~rpcmsg.exceptions.TransportDriverError` (or a more specific rpcmsg exception)
``from`` the original.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from rpcmsg.driver.base import JSON, DriverBase
from rpcmsg.target import Target

__all__ = [
    "AsyncDriver",
    "AsyncIncomingMessage",
    "AsyncListener",
    "AsyncReplyConsumer",
    "AsyncReplyHandler",
]

#: Called by an async driver, in its event loop, with ``(body, content_type)`` for each reply
#: that reaches a reply address. Never blocks and never awaits.
AsyncReplyHandler = Callable[[bytes, str], None]


class AsyncIncomingMessage(abc.ABC):
    """A message taken from a queue; the consumer must settle it exactly once.

    As :class:`rpcmsg.driver.base.IncomingMessage`, with settling as coroutines.
    """

    __slots__ = ()

    body: bytes
    content_type: str
    redelivered: bool

    @abc.abstractmethod
    async def ack(self) -> None:
        """Remove the message for good. Never raises."""

    @abc.abstractmethod
    async def requeue(self) -> None:
        """Give the message back to its queue, to be delivered again (maybe elsewhere)."""

    @abc.abstractmethod
    async def reject(self) -> None:
        """Drop a message that can never be handled (malformed). Not delivered again."""


class AsyncListener(abc.ABC):
    """Messages consumed for one server or one notification listener."""

    @abc.abstractmethod
    async def poll(self, timeout: float | None = None) -> AsyncIncomingMessage | None:
        """Wait for a message and return it.

        Returns ``None`` when ``timeout`` seconds pass first, and at once (for every task
        waiting in it) once ``stop()`` was called. Several tasks may wait at once; each
        message goes to exactly one. Survives connection loss: it reconnects and consumes
        again rather than raising. What the listener holds unsettled is bounded by its
        prefetch window, as on the sync side.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop taking new messages; waiting and later ``poll`` calls return ``None``.

        Messages already returned by ``poll`` can still be settled.
        """

    @abc.abstractmethod
    async def cleanup(self) -> None:
        """Release the listener's resources; unsettled messages go back to their queues."""


class AsyncReplyConsumer(abc.ABC):
    """The address to which replies for one async transport's calls are sent.

    Replies are pushed: the driver calls the ``on_reply`` handler it was opened with from its
    event loop (a consumer task, or the replying coroutine in the fake), so that a reply
    reaches the waiting call's future with no thread hand-off.
    """

    #: The address to put in a request's ``_reply_q``; ``send_reply`` takes it.
    address: str

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming replies and delete the address."""


class AsyncDriver(DriverBase, abc.ABC):
    """Base class of async transport drivers (``rpcmsg.async_drivers`` entry points).

    Constructed as ``AsyncDriver(conf, url, default_exchange)`` like a sync driver; the
    constructor must not do I/O (and may run outside any event loop): connect lazily, in
    the first coroutine awaited. ``capabilities``, ``option_group`` and ``options`` are
    declared as on a sync driver (:class:`rpcmsg.driver.base.DriverBase`); an async twin
    names its sync twin's group and options.
    """

    # -- RPC ---------------------------------------------------------------------------

    @abc.abstractmethod
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
        """Send an RPC request to ``target``; as :meth:`rpcmsg.driver.base.Driver.send`."""

    @abc.abstractmethod
    async def listen(self, target: Target, *, capacity: int | None = None) -> AsyncListener:
        """Consume RPC requests for a server; as :meth:`rpcmsg.driver.base.Driver.listen`.
        ``capacity`` is how many messages the server handles at once (its
        ``max_concurrency``): a driver with a prefetch window sizes it from that, as the
        sync drivers size theirs from the server's pool (the AMQP drivers split it between
        the queues of quorum layouts, where RabbitMQ allows no channel-wide window)."""

    @abc.abstractmethod
    async def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        """Send a reply to a reply address; one to an address that no longer exists is
        dropped without error."""

    @abc.abstractmethod
    async def open_reply_consumer(
        self, on_reply: AsyncReplyHandler, deadline: float | None = None
    ) -> AsyncReplyConsumer:
        """Create a reply address whose replies go to ``on_reply`` (called in the loop).

        Called by the first call of a transport, with that call's ``deadline``. One consumer
        serves all calls of a transport; the core correlates replies.
        """

    # -- notifications -----------------------------------------------------------------

    @abc.abstractmethod
    async def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        """Publish a notification; as :meth:`rpcmsg.driver.base.Driver.send_notification`."""

    @abc.abstractmethod
    async def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> AsyncListener:
        """Consume notifications; as
        :meth:`rpcmsg.driver.base.Driver.listen_for_notifications` (``capacity`` as for
        :meth:`listen`; a batch listener's is its batch size, at least the thread pool's)."""

    # -- lifecycle ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close connections and cancel background tasks. Called once, by the transport."""
