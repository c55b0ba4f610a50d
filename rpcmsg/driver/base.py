"""The driver contract: the narrow seam between rpcmsg's semantics and a broker.

A driver moves opaque message bodies (``bytes`` with a content type) between named addresses
and acknowledges them. Everything else lives once, above this seam, in the core: message
format and serialization, request/reply correlation, timeouts and the call monitor, dispatch,
versioning, duplicate suppression and error mapping. A new driver therefore implements:

* ``send`` / ``listen``                        RPC requests (call and cast)
* ``send_reply`` / ``open_reply_consumer``     replies to calls
* ``send_notification`` / ``listen_for_notifications``
* ``cleanup``

Addressing follows oslo.messaging's AMQP model, which every driver maps onto its broker:

* a request to ``Target(exchange, topic)`` goes to the shared queue ``<topic>`` of that
  exchange: one of its consumers gets it (competing consumers);
* with ``server`` set it goes to the queue ``<topic>.<server>``;
* with ``fanout=True`` every listener of the topic gets its own copy;
* a notification goes to ``<topic>.<priority>``: the listeners without a pool share one copy,
  and each pool shares one more copy among its members.

Threading: every method may be called from any thread. ``Listener.poll`` may be called from
several threads at once; each message is returned to exactly one of them. Drivers start their
own background threads through :mod:`threading`, so that in an eventlet-patched process they
are green threads.

``retry`` everywhere means: ``None`` or ``-1`` retry a failed send for ever, ``0`` never
retry, ``N`` retry at most ``N`` times.

Deadlines. A call returns its result, raises the remote error, or raises
``MessagingTimeout`` within its ``timeout`` plus :data:`DEADLINE_SLACK`, whatever the broker
does: refuses connections, takes them and never answers, drops what it is sent, answers
slowly, restarts. Connecting, sending and waiting for the reply share that one deadline: the
core computes it once (a ``time.monotonic()`` value) and passes it to
``open_reply_consumer`` and ``send``, which must return or raise by then, bounding every
connection attempt, handshake, declaration, lock and socket read or write by the time left
(never a fixed connect timeout per host or the full socket timeout per attempt), and
``ReplyConsumer.poll(timeout)`` returns within ``timeout`` too. A send without a deadline (a
cast, a notification) ends within its retry budget: ``retry=N`` makes at most ``N + 1``
attempts, each bounded by the driver's connect and socket timeouts (its spec sheet names
them), with the driver's backoff between them; only ``retry=None`` may go on for ever.

Broker library errors never cross this seam: drivers
raise :class:`~rpcmsg.exceptions.TransportDriverError` (or a more specific rpcmsg exception)
``from`` the original.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from oslo_config import cfg

from rpcmsg._url import TransportURL
from rpcmsg.target import Target

__all__ = [
    "JSON",
    "DEADLINE_SLACK",
    "Capabilities",
    "Driver",
    "DriverBase",
    "IncomingMessage",
    "Listener",
    "ReplyConsumer",
    "ReplyHandler",
]

JSON = "application/json"

#: How far past its ``timeout`` a call may end (seconds); see "Deadlines" above.
DEADLINE_SLACK = 0.5

#: Called by a driver with ``(body, content_type)`` for each reply that reaches a reply address.
ReplyHandler = Callable[[bytes, str], None]


@dataclass(frozen=True)
class Capabilities:
    """What a driver promises, declared rather than discovered.

    ``durable``: with durable queues configured, messages survive a broker restart.
    ``at_least_once``: a request or notification taken by a consumer that dies before
    acknowledging it is delivered again to another consumer.
    ``mandatory``: ``send(..., mandatory=True)`` raises ``MessageUndeliverable`` at once when
    no queue takes the message.
    ``expiration``: ``send(..., expiration=T)`` drops requests not delivered within T seconds.
    ``cross_process``: processes sharing the URL reach each other (false for the fake).
    """

    durable: bool = False
    at_least_once: bool = False
    mandatory: bool = False
    expiration: bool = False
    cross_process: bool = True


class IncomingMessage(abc.ABC):
    """A message taken from a queue; the consumer must settle it exactly once.

    Until it is settled the message counts as held by its listener; a driver with the
    ``at_least_once`` capability gives held messages back to the queue when the listener or
    its connection dies.
    """

    __slots__ = ()

    body: bytes
    content_type: str
    redelivered: bool

    @abc.abstractmethod
    def ack(self) -> None:
        """Remove the message for good. Never blocks for long; never raises."""

    @abc.abstractmethod
    def requeue(self) -> None:
        """Give the message back to its queue, to be delivered again (maybe elsewhere)."""

    @abc.abstractmethod
    def reject(self) -> None:
        """Drop a message that can never be handled (malformed). Not delivered again."""


class Listener(abc.ABC):
    """Messages consumed for one server or one notification listener."""

    @abc.abstractmethod
    def poll(self, timeout: float | None = None) -> IncomingMessage | None:
        """Block until a message arrives and return it.

        Returns ``None`` when ``timeout`` seconds pass first, and at once (for every thread
        blocked in it) once ``stop()`` was called. Safe to call from several threads.
        Survives connection loss: it reconnects and consumes again rather than raising.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop taking new messages; blocked and later ``poll`` calls return ``None``.

        Messages already returned by ``poll`` can still be settled.
        """

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release the listener's resources; unsettled messages go back to their queues."""


class ReplyConsumer(abc.ABC):
    """The address to which replies for one transport's calls are sent.

    A consumer delivers replies to the ``on_reply`` handler it was opened with in one of two
    ways. A *pushing* consumer (the default) calls it from a thread of its own, or from the
    replying thread. A *polled* consumer (``polled = True``) has no thread: the core calls
    :meth:`poll` from a thread that waits for a reply, one such thread at a time, so that a
    reply reaches the caller waiting for it without a hand-off between threads.
    """

    #: The address to put in a request's ``_reply_q``; ``send_reply`` takes it.
    address: str
    #: True when replies are read by :meth:`poll` in the core's waiting threads.
    polled: ClassVar[bool] = False

    def poll(self, timeout: float) -> None:
        """Polled consumers only: wait up to ``timeout`` seconds for replies, pass every
        reply that arrived to ``on_reply`` in this thread, and return.

        The core never calls it from two threads at once. Never raises: a lost connection is
        logged and opened again (backing off within the ``timeout`` of later calls). Once
        ``close()`` was called it returns at once, having read nothing.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a polled reply consumer")

    @abc.abstractmethod
    def close(self) -> None:
        """Stop consuming replies and delete the address; a ``poll`` blocked in another
        thread returns soon."""


class DriverBase:
    """What sync and async drivers share: declared capabilities, options, construction.

    Constructed as ``Driver(conf, url, default_exchange)``; the constructor does no I/O.
    """

    #: What the driver guarantees; see :class:`Capabilities`.
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: The oslo.config group of the driver's options, listed by ``rpcmsg.opts.list_opts``.
    option_group: ClassVar[str | None] = None
    #: The options of ``option_group``.
    options: ClassVar[Sequence[cfg.Opt]] = ()

    def __init__(self, conf: cfg.ConfigOpts, url: TransportURL, default_exchange: str) -> None:
        self.conf = conf
        self.url = url
        self.default_exchange = default_exchange


class Driver(DriverBase, abc.ABC):
    """Base class of transport drivers, registered under the ``rpcmsg.drivers`` entry points.

    Constructed as ``Driver(conf, url, default_exchange)``: ``conf`` is the ``ConfigOpts``
    (the driver registers its own ``option_group``), ``url`` the parsed
    :class:`~rpcmsg.transport.TransportURL` whose ``query`` overrides options of the group,
    and ``default_exchange`` the ``control_exchange`` used when a target names none. The
    constructor must not block on the broker: connect lazily.
    """

    # -- RPC ---------------------------------------------------------------------------

    @abc.abstractmethod
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
        """Send an RPC request to ``target`` (``exchange`` always set by the caller).

        ``deadline`` (a ``time.monotonic()`` value, set on calls) is when the call ends:
        return by then or raise ``MessagingTimeout`` (see "Deadlines" above).

        Returns once the broker has taken the message, or once the driver has taken
        responsibility for it: a driver may pipeline broker confirmations provided it keeps
        every unconfirmed message, publishes it again after a connection failure or a
        negative confirmation, bounds how many are in flight, and waits for the rest in
        ``cleanup()``. Only a process that dies with messages unconfirmed may lose them; the
        driver's spec sheet says whether it pipelines and how to turn that off.
        ``expiration`` is in seconds: a request not delivered by then may be dropped. The
        core sets it on calls, and only on calls (their caller stops waiting then), so a
        driver may treat a request with an ``expiration`` as a call: delivered at most once
        and acknowledged when taken. Casts come without one and must be kept until settled.
        ``mandatory`` asks for ``MessageUndeliverable`` when no queue is bound for the
        address. Raises ``TransportDriverError`` (or ``MessageDeliveryFailure``) when the
        retries allowed are exhausted.
        """

    @abc.abstractmethod
    def listen(self, target: Target, *, capacity: int | None = None) -> Listener:
        """Consume RPC requests for a server: the topic's shared queue, the
        ``<topic>.<server>`` queue and a fanout copy. ``target`` has exchange, topic and
        server set. ``capacity`` is how many messages the server handles at once (its
        worker pool; ``None``: ``executor_thread_pool_size``): a driver with a prefetch
        window sizes it from this, over all the listener's queues (AMQP, fake), or may
        ignore it for a read-ahead of its own (Redis: ``prefetch_count``).
        Raises ``TransportDriverError`` when the broker cannot be reached."""

    @abc.abstractmethod
    def send_reply(
        self, address: str, body: bytes, *, content_type: str = JSON, retry: int | None = 0
    ) -> None:
        """Send a reply to a reply address. A reply to an address that no longer exists is
        dropped without error: the caller is gone and must not block the server."""

    @abc.abstractmethod
    def open_reply_consumer(
        self, on_reply: ReplyHandler, deadline: float | None = None
    ) -> ReplyConsumer:
        """Create a reply address whose replies go to ``on_reply``.

        Called by the first call of a transport, with that call's ``deadline``: a driver
        that connects or declares the address here does so by then, and past it either
        raises ``MessagingTimeout`` or goes on connecting in the background.

        A pushing consumer calls ``on_reply`` from a driver thread (or the replying thread); a
        polled one calls it from ``poll`` (see :class:`ReplyConsumer`). ``on_reply`` never
        blocks. One consumer serves all calls of a transport; the core correlates replies.
        """

    # -- notifications -----------------------------------------------------------------

    @abc.abstractmethod
    def send_notification(
        self,
        target: Target,
        body: bytes,
        *,
        content_type: str = JSON,
        retry: int | None = None,
    ) -> None:
        """Publish a notification to ``<target.topic>`` (already ``<topic>.<priority>``)
        in ``target.exchange``. Makes sure the default (pool-less) queue of that address
        exists, so that nothing is lost before a listener starts."""

    @abc.abstractmethod
    def listen_for_notifications(
        self, targets: Sequence[Target], pool: str | None, *, capacity: int | None = None
    ) -> Listener:
        """Consume notifications of every ``<topic>.<priority>`` in ``targets``. Listeners
        with the same ``pool`` (``None`` being one pool too) share one copy of each message.
        ``capacity``: as for :meth:`listen` (a batch listener's counts its batch size)."""

    # -- lifecycle ---------------------------------------------------------------------

    def cleanup(self) -> None:
        """Close connections and stop background threads. Called once, by the transport."""
