"""Publishing: a small pool of connections shared by every sending thread of a transport.

A thread takes a free :class:`~rpcmsg_drivers.amqp.link.Link` (opening a new one while fewer
than ``size`` exist, else waiting its turn on one), so threads publish in parallel without a
global lock. Every publish is a socket write; confirmed ones are tracked until the broker
acknowledges them (see :mod:`rpcmsg_drivers.amqp.link`), and ``mandatory`` ones wait for it:
a basic.return seen before the ack means no queue took the message. A background thread keeps
idle connections alive (AMQP heartbeats), reads their confirms, and closes those beyond
``conn_pool_min_size`` left idle for ``conn_pool_ttl`` seconds.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

import amqp

from rpcmsg.driver import note_reconnect
from rpcmsg.exceptions import (
    MessageDeliveryFailure,
    MessageUndeliverable,
    MessagingTimeout,
    TransportDriverError,
)
from rpcmsg_drivers.amqp.connection import CLOSE_TIMEOUT, Connector, remaining
from rpcmsg_drivers.amqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS, translate
from rpcmsg_drivers.amqp.link import Link, Pending
from rpcmsg_drivers.amqp.replies import RETURN_WATCH, ReturnedReplies
from rpcmsg_drivers.amqp.topology import Exchange, Queue

__all__ = ["Publisher"]

LOG = logging.getLogger(__name__)

#: How long an unbounded confirmed publish waits for the broker's ack before it reconnects
#: and publishes again (a stuck broker must not hang the sender).
CONFIRM_TIMEOUT = 30.0
#: How long one publish attempt without a deadline waits on a silent broker when heartbeats
#: are off (with heartbeats: ``heartbeat_timeout_threshold``).
STALL_WITHOUT_HEARTBEATS = 60.0
_FLUSH_ERRORS: tuple[type[BaseException], ...] = (
    MessagingTimeout,
    TransportDriverError,
    *CHANNEL_ERRORS,
    *CONNECTION_ERRORS,
)
#: How often unconfirmed publishes of idle connections are looked after (seconds).
CONFIRM_POLL = 0.1
#: How long closing a transport waits for the broker to confirm what it was sent.
FLUSH_TIMEOUT = 10.0


class Publisher:
    """Sends messages over up to ``rpc_conn_pool_size`` connections; thread-safe."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._size = max(1, connector.settings.rpc_conn_pool_size)
        self._window = connector.settings.rabbit_confirm_window
        self._links: list[Link] = []
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self._closed = threading.Event()
        #: Set when a confirmed publish is tracked: wakes the background thread.
        self._tracking = threading.Event()
        self._keepalive: threading.Thread | None = None
        s = connector.settings
        self._replies = (
            ReturnedReplies(s.kombu_missing_consumer_retry_timeout, self._tracking.set)
            if s.direct_mandatory_flag
            else None
        )

    # -- the pool ----------------------------------------------------------------------

    def _acquire(self, deadline: float | None = None) -> Link:
        """A link for this thread alone; waiting for one ends at ``deadline`` (casts that
        retry through an outage may hold every link) with ``MessagingTimeout``."""
        while True:
            link = self._take(deadline)
            if not link.retired:
                return link
            link.lock.release()  # expired while we waited for it: take another

    def _take(self, deadline: float | None) -> Link:
        for link in self._links:
            if link.lock.acquire(blocking=False):
                return link
        with self._lock:
            if len(self._links) < self._size:
                link = Link(self._connector, self._replies.on_return if self._replies else None)
                link.lock.acquire()
                self._links.append(link)
                self._start_keepalive()
                return link
            link = self._links[next(self._turn) % len(self._links)]
        left = remaining(deadline)
        if not link.lock.acquire(timeout=-1 if left is None else left):
            raise MessagingTimeout("Timed out waiting for a connection to publish to RabbitMQ")
        return link

    def _expire_idle(self) -> None:
        """Close the publishing connections beyond ``conn_pool_min_size`` that nobody used
        for ``conn_pool_ttl`` seconds, the longest idle first (as oslo.messaging's pool)."""
        s = self._connector.settings
        now = time.monotonic()
        expired: list[Link] = []
        with self._lock:
            excess = len(self._links) - max(0, s.conn_pool_min_size)
            idle = [link for link in self._links if now - link.last_used >= s.conn_pool_ttl]
            for link in sorted(idle, key=lambda link: link.last_used)[: max(0, excess)]:
                if not link.lock.acquire(blocking=False):
                    continue
                if link.unconfirmed or link.resend:
                    link.lock.release()
                    continue
                link.retired = True
                self._links.remove(link)
                expired.append(link)
        for link in expired:
            link.close()
            link.lock.release()
        if expired:
            LOG.debug("Closed %d idle publishing connection(s)", len(expired))

    def _start_keepalive(self) -> None:
        if self._keepalive is None:
            self._keepalive = threading.Thread(
                target=self._keep_alive, name="rpcmsg-amqp-publisher", daemon=True
            )
            self._keepalive.start()

    def _keep_alive(self) -> None:
        """Background care of idle links: heartbeats, and while publishes await their
        confirms, reading the acks and resending at once what a lost connection left."""
        s = self._connector.settings
        beat_every = max(0.2, s.heartbeat / s.heartbeat_rate / 2.0) if s.heartbeat else None
        idle_wait = min(beat_every or 1.0, max(0.2, s.conn_pool_ttl / 4))
        last_beat = time.monotonic()
        while not self._closed.is_set():
            now = time.monotonic()
            pending = any(
                link.unconfirmed or link.resend or link.watch_until > now for link in self._links
            ) or (self._replies is not None and self._replies.busy())
            if pending:
                self._closed.wait(CONFIRM_POLL)
            else:
                self._tracking.clear()
                self._tracking.wait(idle_wait)
            if self._closed.is_set():
                return
            self._expire_idle()
            beat = beat_every is not None and time.monotonic() - last_beat >= beat_every
            if beat:
                last_beat = time.monotonic()
            now = time.monotonic()
            for link in list(self._links):
                if not (beat or link.unconfirmed or link.resend or link.watch_until > now):
                    continue
                if not beat and now - link.last_used < CONFIRM_POLL:
                    continue  # busy: its publishers read the acks when the window fills
                if not link.lock.acquire(blocking=False):
                    continue  # in use: its user reads and resends
                try:
                    self._tend(link, s.heartbeat_rate if beat else None)
                finally:
                    link.lock.release()
            self._send_returned_again()

    def _send_returned_again(self) -> None:
        """Publish again the returned replies that are due (see
        :mod:`rpcmsg_drivers.amqp.replies`), on any free connection."""
        replies = self._replies
        if replies is None or not replies.busy():
            return
        for key, routing_key, message in replies.due():
            link = next((link for link in self._links if link.lock.acquire(blocking=False)), None)
            if link is None:
                return  # all busy: next round
            try:
                if link.retired:
                    continue
                link.channel(Link.PLAIN, retry=0).basic_publish(
                    message, "", routing_key, mandatory=True
                )
                link.watch_until = time.monotonic() + RETURN_WATCH
                replies.sent(key)
            except CHANNEL_ERRORS as exc:
                LOG.info("Could not send a reply again yet (%s)", exc)
                link.drop_channel(Link.PLAIN)
            except _FLUSH_ERRORS as exc:
                LOG.info("Could not send a reply again yet (%s)", exc)
                link.reset()
            finally:
                link.lock.release()

    def _tend(self, link: Link, heartbeat_rate: int | None) -> None:
        try:
            link.bound_io(self._stall_deadline())  # a frame dribbled in must not hold the link
            if link.conn is not None:
                link.poll_input()
                if heartbeat_rate is not None:
                    link.conn.heartbeat_tick(rate=heartbeat_rate)
        except CONNECTION_ERRORS as exc:
            LOG.info("Publishing connection lost (%s)", exc)
            link.reset()
        except Exception:
            LOG.exception("Unexpected error tending a publishing connection")
            link.reset()
        if link.resend and time.monotonic() >= link.retry_at:
            try:
                self._resend(link, link.channel(Link.CONFIRM, retry=0))
            except _FLUSH_ERRORS as exc:
                LOG.info("Could not publish again yet (%s); will retry", exc)
                link.reset()
                interval = self._connector.settings.rabbit_retry_interval
                link.retry_at = time.monotonic() + max(0.5, interval)
        link.bound_io(None)

    # -- publishing --------------------------------------------------------------------

    def publish(
        self,
        exchange: Exchange,
        routing_key: str,
        message: amqp.Message,
        *,
        confirm: bool = False,
        mandatory: bool = False,
        retry: int | None = None,
        deadline: float | None = None,
        queue: Queue | None = None,
        returnable: bool = False,
    ) -> None:
        """Publish ``message``; with ``queue``, declare it first (once per connection).

        ``returnable`` (replies, without ``confirm``): published mandatory, so that one no
        queue takes comes back and is sent again for a while (:mod:`.replies`) when
        ``direct_mandatory_flag`` is set.

        ``confirm``: tracked until the broker acknowledges it, and published again after a
        connection failure (see :mod:`rpcmsg_drivers.amqp.link`). ``mandatory``: wait for
        the broker's verdict and raise ``MessageUndeliverable`` when no queue took it.
        Retries after connection failures as ``retry`` allows. Raises ``MessagingTimeout``
        (past ``deadline``), ``MessageDeliveryFailure`` (refused) or ``TransportDriverError``.
        """
        kind = Link.MANDATORY if mandatory else Link.CONFIRM if confirm else Link.PLAIN
        failures = 0
        redeclared = False
        tracked = False
        link = self._acquire(deadline)
        link.last_used = time.monotonic()
        try:
            while True:
                # Without a deadline (casts, notifications) one attempt's socket I/O still
                # ends: a broker silent for the heartbeat timeout is dead, so a connection it
                # closed without telling us (half-open) is dropped and opened again.
                io_deadline = deadline if deadline is not None else self._stall_deadline()
                try:
                    channel = link.channel(
                        kind, retry=retry, deadline=deadline, io_deadline=io_deadline
                    )
                    if kind == Link.CONFIRM and link.resend:
                        self._resend(link, channel)
                    if not tracked:
                        self._declare(link, channel, exchange, queue)
                        link.bound_io(io_deadline)  # a socket timeout bounds one step only
                        if kind == Link.MANDATORY:
                            self._publish_mandatory(
                                link, channel, exchange, routing_key, message, deadline
                            )
                            return
                        if kind == Link.PLAIN and returnable and self._replies is not None:
                            channel.basic_publish(
                                message, exchange.name, routing_key, mandatory=True
                            )
                            link.watch_until = time.monotonic() + RETURN_WATCH
                            if not self._tracking.is_set():
                                self._tracking.set()  # the background thread reads returns
                            return
                        channel.basic_publish(message, exchange.name, routing_key)
                        if kind == Link.PLAIN:
                            return
                        link.track(Pending(exchange, routing_key, message, queue))
                        tracked = True
                        if not self._tracking.is_set():
                            self._tracking.set()  # the background thread looks after it
                    window = self._window
                    if len(link.unconfirmed) > window:
                        link.wait_confirms(window // 2, CONFIRM_TIMEOUT)
                    return
                except amqp.exceptions.MessageNacked as exc:
                    raise MessageDeliveryFailure(f"RabbitMQ refused the message: {exc}") from exc
                except CHANNEL_ERRORS as exc:
                    link.drop_channel(kind)
                    if getattr(exc, "reply_code", None) == 404 and not redeclared:
                        # An auto-delete exchange vanished since we declared it: declare again.
                        redeclared = True
                        continue
                    raise translate(exc, f"publishing to {exchange.name!r}") from exc
                except CONNECTION_ERRORS as exc:
                    link.reset()
                    failures += 1
                    left = remaining(deadline)
                    if left is not None and left <= 0:
                        raise MessagingTimeout("Timed out sending to RabbitMQ") from exc
                    if retry is not None and 0 <= retry < failures:
                        if tracked:
                            return  # kept for resending when the connection is back
                        raise translate(exc, f"publishing to {exchange.name!r}") from exc
                    LOG.info("Publishing failed (%s); reconnecting", exc)
                    note_reconnect("rabbit")
        finally:
            link.bound_io(None)
            link.lock.release()

    def _stall_deadline(self) -> float:
        """When one publish attempt without a deadline gives up on a silent broker: after
        ``heartbeat_timeout_threshold`` (``STALL_WITHOUT_HEARTBEATS`` when they are off)."""
        threshold = self._connector.settings.heartbeat
        return time.monotonic() + (threshold if threshold > 0 else STALL_WITHOUT_HEARTBEATS)

    @staticmethod
    def _publish_mandatory(
        link: Link,
        channel: Any,
        exchange: Exchange,
        routing_key: str,
        message: amqp.Message,
        deadline: float | None,
    ) -> None:
        link.returned = None
        left = remaining(deadline)
        channel.basic_publish_confirm(
            message,
            exchange.name,
            routing_key,
            mandatory=True,
            confirm_timeout=CONFIRM_TIMEOUT if left is None else max(left, 0.001),
        )
        if link.returned is not None:
            raise MessageUndeliverable(None, exchange.name, routing_key, None)

    def _resend(self, link: Link, channel: Any) -> None:
        """Publish again what a failed connection (or a nack) left unconfirmed."""
        LOG.info("Publishing %d unconfirmed message(s) again", len(link.resend))
        while link.resend:
            pending = link.resend[0]
            self._declare(link, channel, pending.exchange, pending.queue)
            channel.basic_publish(pending.message, pending.exchange.name, pending.routing_key)
            link.track(pending)
            link.resend.pop(0)

    def flush(self, link: Link, timeout: float) -> int:
        """Wait until everything ``link`` published is confirmed (reconnecting and resending
        as needed) for at most ``timeout`` seconds; returns how many are still unconfirmed.
        The caller holds ``link.lock``."""
        deadline = time.monotonic() + timeout
        while link.unconfirmed or link.resend:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                channel = link.channel(Link.CONFIRM, retry=0, deadline=deadline)
                if link.resend:
                    self._resend(link, channel)
                link.wait_confirms(0, left)
            except _FLUSH_ERRORS:
                link.reset()
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        link.bound_io(None)
        return len(link.unconfirmed) + len(link.resend)

    @staticmethod
    def _declare(link: Link, channel: Any, exchange: Exchange, queue: Queue | None) -> None:
        if queue is not None:
            if queue not in link.declared:
                queue.declare(channel)
                link.declared.add(queue)
                link.declared.add(queue.exchange)
        elif exchange.name and exchange not in link.declared:
            exchange.declare(channel)
            link.declared.add(exchange)

    def close(self) -> None:
        """Wait (up to ``FLUSH_TIMEOUT``) for the confirms still outstanding, then close
        every connection, all within ``CLOSE_TIMEOUT`` more whatever the broker does."""
        self._closed.set()
        self._tracking.set()
        with self._lock:
            links, self._links = self._links, []
        held = []
        for link in links:
            acquired = link.lock.acquire(timeout=CLOSE_TIMEOUT)
            if acquired:
                held.append(link)
            if acquired and (link.unconfirmed or link.resend):
                lost = self.flush(link, FLUSH_TIMEOUT)
                if lost:
                    LOG.error("%d message(s) never confirmed by RabbitMQ were dropped", lost)
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for link in links:
            link.close(deadline)
        for link in held:
            link.lock.release()
        if self._keepalive is not None:
            self._keepalive.join(timeout=CLOSE_TIMEOUT)


def wait_deadline(expiration: float | None) -> float | None:
    """The monotonic deadline of a call request sent now with ``expiration`` seconds."""
    return None if expiration is None else time.monotonic() + expiration
