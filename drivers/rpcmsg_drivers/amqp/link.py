"""One publishing connection: its channels, and the messages awaiting the broker's confirm.

Three channels, opened on demand: *plain* (call requests and replies: no confirms; replies
the broker returns go to :mod:`rpcmsg_drivers.amqp.replies`), *confirm*
(casts and notifications: confirms tracked in the background) and *mandatory* (sends that
must learn at once whether a queue took them: each publish waits for its own confirm).

On the confirm channel a publish is tracked until the broker acknowledges it, without waiting
for that: at most ``rabbit_confirm_window`` messages are in flight, beyond which the sender
waits for the broker to catch up (with 0, each publish waits for its own confirm). When the
connection fails, or the broker nacks, the messages not yet confirmed are published again on
the next connection (consumers drop the duplicates this may make, by ``_unique_id``). A link is
not thread-safe: its owner holds ``lock`` while using it.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import amqp

from rpcmsg.driver import note_reconnect
from rpcmsg_drivers.amqp.connection import Connector, close_connection, set_io_deadline
from rpcmsg_drivers.amqp.errors import CONNECTION_ERRORS
from rpcmsg_drivers.amqp.topology import Exchange, Queue

__all__ = ["Link", "Pending"]

LOG = logging.getLogger(__name__)


@dataclass
class Pending:
    """A confirmed publish the broker has not acknowledged yet."""

    exchange: Exchange
    routing_key: str
    message: amqp.Message
    queue: Queue | None


class Link:
    """One connection with its channels; see the module docstring."""

    PLAIN = 1
    CONFIRM = 2
    MANDATORY = 3

    def __init__(
        self, connector: Connector, on_return: Callable[[Any, str, str, Any], None] | None = None
    ) -> None:
        self.connector = connector
        #: basic.return handler of the plain channel (replies published mandatory).
        self._on_plain_return = on_return
        #: Until then (monotonic) the background thread reads the link for returned replies.
        self.watch_until = 0.0
        self.lock = threading.Lock()
        self.conn: amqp.Connection | None = None
        self._channels: dict[int, Any] = {}
        self.declared: set[Any] = set()
        #: Set by the broker's basic.return on the mandatory channel.
        self.returned: tuple[str, str] | None = None
        #: Confirm channel publishes awaiting an ack, by delivery tag.
        self.unconfirmed: dict[int, Pending] = {}
        #: Publishes to send again (their connection failed, or the broker nacked them).
        self.resend: list[Pending] = []
        self._seq = 0
        #: Before this (monotonic) time the background thread does not reconnect to resend.
        self.retry_at = 0.0
        #: When a publisher last used the link (monotonic).
        self.last_used = time.monotonic()
        #: Closed for idleness and out of the pool: whoever still gets it takes another.
        self.retired = False

    def channel(
        self,
        kind: int,
        *,
        retry: int | None = None,
        deadline: float | None = None,
        io_deadline: float | None = None,
    ) -> Any:
        """The channel of ``kind``, connecting first when needed (within ``deadline``, as
        ``retry`` allows); the connection's socket reads and writes end by ``io_deadline``
        (default: ``deadline``) from now on (see :meth:`bound_io`)."""
        if io_deadline is None:
            io_deadline = deadline
        self.bound_io(io_deadline)
        # Confirmed publishes need not look for a close first: what the connection loses,
        # they resend. Acks are read in batches once the window fills.
        if self.conn is not None and kind != self.CONFIRM:
            try:
                self.poll_input()
            except CONNECTION_ERRORS as exc:
                LOG.info("Publishing connection was closed (%s); reconnecting", exc)
                note_reconnect("rabbit")
                self.reset()
        if self.conn is None:
            self.conn = self.connector.open(retry=retry, deadline=deadline)
            self._channels = {}
            self.declared = set()
            self.bound_io(io_deadline)
        channel = self._channels.get(kind)
        if channel is None or not channel.is_open:
            if kind == self.CONFIRM:
                self._requeue_unconfirmed()
            channel = self.conn.channel()
            if kind == self.CONFIRM:
                channel.confirm_select()
                channel.events["basic_ack"].add(self._on_ack)
                channel.events["basic_nack"].add(self._on_nack)
                self._seq = 0
            elif kind == self.MANDATORY:
                channel.confirm_select()
                channel.events["basic_return"].add(self._on_return)
            elif self._on_plain_return is not None:
                channel.events["basic_return"].add(self._on_plain_return)
            self._channels[kind] = channel
        return channel

    # -- confirms ----------------------------------------------------------------------

    def track(self, pending: Pending) -> None:
        """Record a publish just made on the confirm channel."""
        self._seq += 1
        self.unconfirmed[self._seq] = pending

    def _settled(self, tag: int, multiple: bool) -> list[Pending]:
        if not multiple:
            pending = self.unconfirmed.pop(tag, None)
            return [] if pending is None else [pending]
        tags = [t for t in self.unconfirmed if t <= tag]
        return [self.unconfirmed.pop(t) for t in tags]

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settled(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        nacked = self._settled(delivery_tag, multiple)
        LOG.warning("RabbitMQ refused %d message(s); publishing them again", len(nacked))
        self.resend.extend(nacked)

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        self.returned = (exchange, routing_key)

    def _requeue_unconfirmed(self) -> None:
        if self.unconfirmed:
            self.resend[:0] = list(self.unconfirmed.values())
            self.unconfirmed = {}

    def wait_confirms(self, limit: int, timeout: float) -> None:
        """Read the broker's acks until at most ``limit`` publishes are unconfirmed.

        Raises ``TimeoutError`` (a connection error: the caller reconnects) after ``timeout``.
        """
        conn = self.conn
        if conn is None:
            return
        deadline = time.monotonic() + timeout
        while len(self.unconfirmed) > limit:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("RabbitMQ did not confirm publishes in time")
            conn.blocking_read(timeout=left)

    # -- connection --------------------------------------------------------------------

    def drop_channel(self, kind: int) -> None:
        """Forget a channel the broker closed (a channel error); the next use reopens it."""
        self._channels.pop(kind, None)
        if kind == self.CONFIRM:
            self._requeue_unconfirmed()
        self.declared = set()

    def reset(self) -> None:
        """Drop the connection after a failure; the next use reconnects and resends."""
        conn, self.conn = self.conn, None
        self._channels = {}
        self.declared = set()
        self._requeue_unconfirmed()
        if conn is not None:
            try:
                conn.collect()
            except Exception:  # already broken: nothing more to release
                pass

    def close(self, deadline: float | None = None) -> None:
        """Close the connection by ``deadline`` (default: ``CLOSE_TIMEOUT`` from now),
        whatever the broker does."""
        conn, self.conn = self.conn, None
        self._channels = {}
        if conn is not None:
            close_connection(conn, deadline)

    def bound_io(self, deadline: float | None) -> None:
        """Make every socket read and write of the connection end by ``deadline`` (with
        ``None``: block as long as it takes, py-amqp's default), whole frames included, so
        that a broker that stops answering or dribbles its frames mid-publish costs a call
        no more than its deadline. A read cut short leaves the connection mid-frame: the
        publisher then drops it (a connection error)."""
        conn = self.conn
        sock = None if conn is None else getattr(conn.transport, "sock", None)
        if sock is not None:
            sock.settimeout(None if deadline is None else max(0.001, deadline - time.monotonic()))
            # The socket's timeout bounds one recv, not a frame a slow link dribbles in.
            set_io_deadline(conn, deadline)

    def poll_input(self) -> None:
        """Handle what the broker sent meanwhile (acks, a connection.close, heartbeats)
        before the next publish, so that an unconfirmed publish does not go into a connection
        the broker already closed. Costs one ``select`` when there is nothing to read."""
        conn = self.conn
        if conn is None:
            return
        sock = conn.transport.sock
        # A frame has begun to arrive, so a blocking read ends soon (and, without a timeout,
        # does not flip the socket's blocking mode twice per read).
        while select.select([sock], [], [], 0)[0]:
            conn.blocking_read(timeout=None)
