"""A consuming connection drained by its own thread, which survives broker failures.

The thread is the only user of its connection (py-amqp connections are not thread-safe, and
SSL sockets cannot be read and written from two threads): other threads hand it work
(acknowledgements, cancellations, deletions) through ``call_soon``, which also wakes it
through a socket pair it waits on together with the broker's socket, so that work runs at
once. Idle, it wakes once a second to keep heartbeats going.

A *polled* consumer (the reply consumer) is drained instead by the threads that call
``poll``, one at a time (a lock guards the connection), so that a reply is read by the
caller waiting for it. Its thread then only keeps the connection: when nobody polled for a
second it drains what came, keeps heartbeats going, and reconnects a broken connection.

After a connection failure, or when RabbitMQ cancels a consumer (its queue was deleted, or
failed over with ``enable_cancel_on_failover``), it waits ``kombu_reconnect_delay`` plus up to
``kombu_reconnect_splay`` random seconds, then reconnects (failing over between hosts with
backoff, for ever until closed), declares its queues again and consumes again. Messages held
from the previous connection cannot be settled any more: the broker has already requeued them.

A stream queue (``rabbit_stream_fanout``) is consumed from offset ``last`` at first, then,
after a reconnection, from the offset after the last message received, as oslo.messaging
does; a cancelled stream consumer starts at ``last`` again (the stream may have been
deleted and made anew).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import amqp

from rpcmsg import _sync
from rpcmsg.driver import note_reconnect
from rpcmsg.exceptions import MessagingTimeout, TLSVerificationError, TransportDriverError
from rpcmsg_drivers.amqp.connection import (
    CLOSE_TIMEOUT,
    Connector,
    close_connection,
    set_io_deadline,
)
from rpcmsg_drivers.amqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS, translate
from rpcmsg_drivers.amqp.topology import Queue, qos_windows

__all__ = ["ConsumerThread", "Operation"]

LOG = logging.getLogger(__name__)

#: Work run by the consumer thread on its channel.
Operation = Callable[[Any], None]

_START_ERRORS: tuple[type[BaseException], ...] = (
    TransportDriverError,
    MessagingTimeout,
    *CONNECTION_ERRORS,
    *CHANNEL_ERRORS,
)

#: Longest sleep of an idle consumer thread (heartbeats are checked between sleeps).
IDLE_WAIT = 1.0


class ConsumerThread:
    """Consumes ``queues`` on one connection and hands each message to ``on_message``.

    ``on_message(message, generation)`` runs in the consumer thread and must not block;
    ``generation`` counts reconnections, so that settlements of messages from an older
    connection can be told apart and skipped.
    """

    def __init__(
        self,
        connector: Connector,
        queues: Sequence[Queue],
        on_message: Callable[[amqp.Message, int], None],
        *,
        no_ack: bool,
        prefetch: int,
        name: str,
        polled: bool = False,
    ) -> None:
        self._connector = connector
        self._polled = polled
        # Polled consumers: who holds the connection, and when a poller last had it.
        self._lock = threading.Lock()
        self._last_poll = 0.0
        self._last_beat = time.monotonic()
        self._queues = list(queues)
        self._on_message = on_message
        self._no_ack = no_ack
        self._prefetch = prefetch
        self._name = name
        self._ops = _sync.new_queue()
        self._closing = threading.Event()
        # Polled consumers: wakes the keeping thread (a poller lost the connection, or close).
        self._keeper_wake = threading.Event()
        self._conn: amqp.Connection | None = None
        self._channel: Any = None
        self._tags: list[str] = []
        self.generation = 0
        #: Stream queues: the offset to consume from after a reconnection, by queue name.
        self._offsets: dict[str, int] = {}
        self._connected_once = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        #: Set by ``close``: when its last operations and closing handshake must be done.
        self._close_by = 0.0
        s = connector.settings
        self._heartbeat_every = (
            max(0.1, s.heartbeat / s.heartbeat_rate / 2.0) if s.heartbeat else None
        )
        self._idle_wait = min(IDLE_WAIT, self._heartbeat_every or IDLE_WAIT)

    # -- life cycle (any thread) -------------------------------------------------------

    def start(self, background: bool = False, deadline: float | None = None) -> None:
        """Connect, declare and consume, then start the thread.

        Tries each host once, by ``deadline`` (``time.monotonic()``) if given. When none
        answers, raises ``TransportDriverError`` (or ``MessagingTimeout``), or with
        ``background`` leaves the thread to keep trying.
        """
        try:
            self._setup(self._connector.open(retry=0, deadline=deadline), deadline)
        except TLSVerificationError:
            self._drop_connection()
            raise  # not transient: the caller learns at once
        except _START_ERRORS as exc:
            self._drop_connection()
            if not background:
                raise translate(exc, f"declaring the queues of {self._name}") from exc
            LOG.warning(
                "%s: RabbitMQ unreachable (%s); retrying in the background", self._name, exc
            )
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def call_soon(self, op: Operation, urgent: bool = True) -> None:
        """Run ``op(channel)`` in the consumer thread (skipped once the thread is gone).

        ``urgent`` wakes the thread now; otherwise ``op`` runs when the thread wakes
        anyway: on the next message, or within a second.
        """
        self._ops.put(op)
        if urgent:
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:  # buffer full (the thread is awake anyway) or already closed
            pass

    def close(self, final: Operation | None = None, timeout: float = CLOSE_TIMEOUT) -> None:
        """Run pending operations and ``final``, close the connection, end the thread; the
        socket I/O of all that ends within ``timeout`` seconds, whatever the broker does,
        and so does this call (give or take a poller's turn).

        Messages consumed and not acknowledged go back to their queues (the broker requeues
        them when the connection closes). A thread still opening a connection (at most
        ``CONNECT_TIMEOUT``) is not waited for: it drops that connection when it has it.
        """
        self._close_by = time.monotonic() + timeout
        if final is not None:
            self.call_soon(final)
        self._closing.set()
        self._keeper_wake.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        elif thread is None:
            self._drop_connection()
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    # -- the thread --------------------------------------------------------------------

    def _setup(self, conn: amqp.Connection, deadline: float | None = None) -> None:
        self._conn = conn
        self._connected_once = True
        sock = conn.transport.sock

        def bound() -> None:
            # Each step's reads end by the deadline; then, and without one, reads in this
            # thread all use IDLE_WAIT: with the socket's own timeout equal to it, py-amqp
            # does not switch the socket's mode back and forth around every read.
            left = IDLE_WAIT if deadline is None else deadline - time.monotonic()
            sock.settimeout(max(0.001, min(IDLE_WAIT, left)))

        set_io_deadline(conn, deadline)  # a step's frames as a whole, not each recv
        bound()
        channel = conn.channel()
        if self._prefetch > 0:
            for count, shared in qos_windows(self._queues, self._prefetch):
                bound()
                channel.basic_qos(0, count, shared)
        for queue in self._queues:
            bound()
            queue.declare(channel)
        self._tags = []
        for queue in self._queues:
            bound()
            self._tags.append(
                channel.basic_consume(
                    queue.name,
                    no_ack=self._no_ack,
                    callback=self._callback(queue),
                    arguments=self._consume_arguments(queue),
                )
            )
        sock.settimeout(IDLE_WAIT)
        set_io_deadline(conn, None)
        self._channel = channel

    def _consume_arguments(self, queue: Queue) -> dict[str, Any] | None:
        arguments = dict(queue.consume_arguments)
        if queue.stream:
            arguments["x-stream-offset"] = self._offsets.get(queue.name, "last")
        return arguments or None

    def _callback(self, queue: Queue) -> Callable[[amqp.Message], None]:
        generation = self.generation
        if not queue.stream:
            return lambda message: self._on_message(message, generation)
        name = queue.name

        def on_stream_message(message: amqp.Message) -> None:
            headers = message.properties.get("application_headers") or {}
            offset = headers.get("x-stream-offset")
            if isinstance(offset, int):
                self._offsets[name] = offset + 1
            self._on_message(message, generation)

        return on_stream_message

    def _lost(self, exc: BaseException) -> None:
        """Note a connection failure: a cancelled stream consumer starts over at ``last``."""
        note_reconnect("rabbit")
        if isinstance(exc, amqp.exceptions.ConsumerCancelled) and self._offsets:
            LOG.warning("%s: consumer cancelled; stream offsets reset to last", self._name)
            self._offsets.clear()

    def _drop_connection(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            close_connection(conn, self._close_by if self._closing.is_set() else None)

    def cancel(self, channel: Any) -> None:
        """Operation: stop the broker from delivering more messages."""
        for tag in self._tags:
            channel.basic_cancel(tag)
        self._tags = []

    def _run_ops(self) -> None:
        while True:
            try:
                op = self._ops.get_nowait()
            except _sync.Empty:
                return
            try:
                op(self._channel)
            except CHANNEL_ERRORS as exc:
                LOG.warning("%s: channel error (%s); reconsuming", self._name, exc)
                raise ConnectionResetError(str(exc)) from exc

    def _run(self) -> None:
        if self._polled:
            self._keep()
            return
        if self._conn is None and not self._reconnect():
            return
        while True:
            try:
                self._run_ops()
                if self._closing.is_set():
                    break
                self._step(self._idle_wait)
            except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                if self._closing.is_set():
                    break
                LOG.warning("%s: connection lost (%s); reconnecting", self._name, exc)
                self._lost(exc)
                if not self._reconnect(delay=True):
                    break
            except Exception:
                LOG.exception("%s: unexpected error in the consumer thread", self._name)
                if not self._reconnect():
                    break
        self._drop_connection()

    def _step(self, wait: float, until: float | None = None) -> None:
        """Read what the broker sends within ``wait`` seconds (messages go to
        ``on_message``) and keep heartbeats going; every read ends by ``until`` (monotonic;
        default: ``wait``, at least ``IDLE_WAIT``, from now). Raises the connection's
        errors."""
        conn = self._conn
        assert conn is not None
        if until is None:
            until = time.monotonic() + max(wait, IDLE_WAIT)
        if self._wait_readable(wait):
            set_io_deadline(conn, until)
            try:
                # The frames of one message follow each other: read on until a method is
                # complete, unless a lone frame (a heartbeat) came. A frame dribbled in
                # slowly is cut at ``until``; py-amqp keeps what came of it for the next read.
                while not conn.blocking_read(timeout=IDLE_WAIT):
                    if not select.select([conn.transport.sock], [], [], 0)[0]:
                        break
            except TimeoutError:
                pass
            finally:
                set_io_deadline(conn, None)
        if self._heartbeat_every and time.monotonic() - self._last_beat > self._heartbeat_every:
            self._last_beat = time.monotonic()
            conn.heartbeat_tick(rate=self._connector.settings.heartbeat_rate)

    # -- polled consumers --------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        """Polled consumers: read for up to ``timeout`` seconds in this thread. Never raises:
        a broken connection is left to the keeping thread to open again."""
        self._last_poll = time.monotonic()
        until = self._last_poll + timeout
        if self._closing.is_set() or not self._lock.acquire(timeout=timeout):
            return
        try:
            conn = self._conn
            if conn is None:  # being reconnected by the keeping thread
                self._closing.wait(min(timeout, self._idle_wait))
                return
            set_io_deadline(conn, until)  # operations that wait for the broker's answer
            try:
                self._run_ops()
            finally:
                set_io_deadline(conn, None)
            left = until - time.monotonic()
            self._step(max(0.0, min(left, self._idle_wait)), until)
        except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
            LOG.warning("%s: connection lost (%s); reconnecting", self._name, exc)
            self._lost(exc)
            self._drop_connection()
            self._keeper_wake.set()  # the keeping thread reconnects (after the delay)
        except ValueError:  # the wake-up sockets were closed under the read (close)
            if not self._closing.is_set():
                raise
        finally:
            self._last_poll = time.monotonic()
            self._lock.release()

    def _keep(self) -> None:
        """The thread of a polled consumer: read, beat and reconnect while nobody polls."""
        while True:
            self._keeper_wake.wait(self._idle_wait)
            self._keeper_wake.clear()
            if self._closing.is_set():
                break
            if self._conn is not None and time.monotonic() - self._last_poll < self._idle_wait:
                continue  # callers are reading
            with self._lock:
                try:
                    if self._conn is None:
                        if not self._reconnect(delay=self._connected_once):
                            break
                        continue
                    self._run_ops()
                    self._step(0.0)
                except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                    if self._closing.is_set():
                        break
                    LOG.warning("%s: connection lost (%s); reconnecting", self._name, exc)
                    self._lost(exc)
                    self._drop_connection()
                    self._keeper_wake.set()
                except Exception:
                    LOG.exception("%s: unexpected error keeping the connection", self._name)
                    self._drop_connection()  # opened again after a pause, not in a loop
        with self._lock:
            try:
                if self._conn is not None:
                    set_io_deadline(self._conn, self._close_by)
                    self._run_ops()
            except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                LOG.debug("%s: could not finish before closing: %s", self._name, exc)
            self._drop_connection()

    def _wait_readable(self, wait: float) -> bool:
        """Sleep until the broker sent something (True) or someone woke us (False), at
        most ``wait`` seconds."""
        assert self._conn is not None
        sock = self._conn.transport.sock
        pending = getattr(sock, "pending", None)  # SSL: decrypted bytes not yet read
        if pending is not None and pending():
            return True
        readable, _, _ = select.select([sock, self._wake_r], [], [], wait)
        if self._wake_r in readable:
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:  # drained
                pass
        return sock in readable

    def _reconnect(self, delay: bool = False) -> bool:
        """Open a new connection and consume again (first waiting ``kombu_reconnect_delay``
        and its splay when ``delay``, after losing one); False when closed meanwhile."""
        self._drop_connection()
        self.generation += 1
        if delay and self._closing.wait(self._connector.reconnect_delay()):
            return False
        while not self._closing.is_set():
            try:
                conn = self._connector.open(wait=self._closing.wait)
            except TLSVerificationError:
                # Logged by the connector; the broker's certificate may be fixed meanwhile.
                if self._closing.wait(self._connector.settings.rabbit_interval_max):
                    return False
                continue
            except TransportDriverError:
                return False
            if self._closing.is_set():  # closed while connecting: nobody waits for it
                close_connection(conn)
                return False
            try:
                self._setup(conn)
                return True
            except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                LOG.warning("%s: could not consume again (%s)", self._name, exc)
                self._drop_connection()
                self._closing.wait(self._connector.settings.rabbit_retry_interval)
        return False
