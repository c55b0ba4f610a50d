"""Opening connections: the URL's hosts in turn, with backoff, SSL and heartbeats.

:class:`Connector` knows the hosts and how to reach them; every connection the driver opens
(publishers, listeners, reply consumers) comes from ``Connector.open``, so failover and backoff
behave the same everywhere. :class:`Link` is one connection with its channels, reopened on
demand after a failure; it is not thread-safe, its owner serializes its use.
"""

from __future__ import annotations

import logging
import os
import random
import select
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import amqp

from rpcmsg._url import TransportURL
from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from rpcmsg_drivers.amqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS, translate
from rpcmsg_drivers.amqp.options import Settings

__all__ = ["Connector", "Link", "remaining"]

LOG = logging.getLogger(__name__)

#: Upper bound for one TCP/AMQP connection attempt to one host.
CONNECT_TIMEOUT = 5.0

#: Shown by ``rabbitmqctl list_connections client_properties``: which process owns it.
CONNECTION_NAME = f"rpcmsg:{os.path.basename(sys.argv[0]) if sys.argv else ''}:{os.getpid()}"


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value), never negative."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class Connector:
    """Opens connections to the URL's hosts, failing over from one to the next.

    A round tries each host once, starting with the one that worked last; between rounds
    it waits ``rabbit_retry_interval`` plus ``rabbit_retry_backoff`` per failed round, at
    most ``rabbit_interval_max`` seconds. With ``kombu_failover_strategy = shuffle`` the order of
    the hosts is shuffled for each round.
    """

    def __init__(self, url: TransportURL, settings: Settings) -> None:
        self.settings = settings
        self.virtual_host = url.virtual_host or "/"
        hosts = url.hosts or []
        self._hosts: list[tuple[str, str, str, str]] = [
            (
                f"[{h.hostname}]"
                if h.hostname and ":" in h.hostname
                else (h.hostname or "localhost"),
                str(h.port or 5672),
                h.username if h.username is not None else "guest",
                h.password if h.password is not None else "guest",
            )
            for h in hosts
        ] or [("localhost", "5672", "guest", "guest")]
        self._current = 0
        self._lock = threading.Lock()

    def _order(self) -> list[int]:
        n = len(self._hosts)
        if self.settings.kombu_failover_strategy == "shuffle":
            order = list(range(n))
            random.shuffle(order)
            return order
        with self._lock:
            start = self._current
        return [(start + i) % n for i in range(n)]

    def _ssl_options(self, hostname: str) -> Any:
        s = self.settings
        if not s.ssl:
            return False
        options: dict[str, Any] = {
            "cert_reqs": ssl.CERT_REQUIRED if s.ssl_ca_file else ssl.CERT_NONE
        }
        if s.ssl_ca_file:
            options["ca_certs"] = s.ssl_ca_file
        if s.ssl_cert_file:
            options["certfile"] = s.ssl_cert_file
        if s.ssl_key_file:
            options["keyfile"] = s.ssl_key_file
        if s.ssl_enforce_hostname_verification and s.ssl_ca_file:
            options["server_hostname"] = hostname.strip("[]")
        return options

    def _connect_one(self, index: int, timeout: float) -> amqp.Connection:
        hostname, port, user, password = self._hosts[index]
        conn = amqp.Connection(
            host=f"{hostname}:{port}",
            userid=user,
            password=password,
            virtual_host=self.virtual_host,
            login_method=self.settings.rabbit_login_method,
            ssl=self._ssl_options(hostname),
            connect_timeout=timeout,
            heartbeat=self.settings.heartbeat_timeout_threshold,
            client_properties={"product": "rpcmsg", "connection_name": CONNECTION_NAME},
        )
        conn.connect()
        return conn

    def open(
        self,
        *,
        retry: int | None = None,
        deadline: float | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> amqp.Connection:
        """Connect to the first host that answers.

        ``retry`` counts the rounds after the first (``None``/``-1``: for ever). ``deadline``
        (monotonic) turns running out of time into ``MessagingTimeout``. ``wait(seconds)``
        sleeps between rounds and returns True to give up (a listener being closed); giving up
        or exhausting ``retry`` raises ``TransportDriverError``.
        """
        s = self.settings
        rounds = 0
        while True:
            last: BaseException | None = None
            for index in self._order():
                left = remaining(deadline)
                if left is not None and left <= 0:
                    raise MessagingTimeout("Timed out connecting to RabbitMQ") from last
                try:
                    conn = self._connect_one(index, min(CONNECT_TIMEOUT, left or CONNECT_TIMEOUT))
                except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                    LOG.warning("RabbitMQ at %s unreachable: %s", self._hosts[index][0], exc)
                    last = exc
                    continue
                with self._lock:
                    self._current = index
                if rounds:
                    LOG.info("Reconnected to RabbitMQ at %s", self._hosts[index][0])
                return conn
            assert last is not None
            if retry is not None and retry >= 0 and rounds >= retry:
                raise translate(last, "connecting") from last
            delay = min(
                s.rabbit_retry_interval + rounds * s.rabbit_retry_backoff, s.rabbit_interval_max
            )
            left = remaining(deadline)
            if left is not None and left <= delay:
                if left > 0:
                    (wait or time.sleep)(left)
                raise MessagingTimeout("Timed out connecting to RabbitMQ") from last
            rounds += 1
            if wait is not None:
                if wait(delay):
                    raise TransportDriverError("Gave up connecting to RabbitMQ") from last
            else:
                time.sleep(delay)


class Link:
    """One connection with a plain channel and, on demand, a confirming channel.

    Not thread-safe: the owner holds ``lock`` while using it. ``declared`` caches what was
    declared on the current connection and is emptied when the connection is replaced.
    """

    PLAIN = 1
    CONFIRM = 2

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.lock = threading.Lock()
        self.conn: amqp.Connection | None = None
        self._channels: dict[int, Any] = {}
        self.declared: set[Any] = set()
        #: Set by the broker's basic.return on the confirming channel.
        self.returned: tuple[str, str] | None = None

    def channel(self, kind: int, *, retry: int | None = None, deadline: float | None = None) -> Any:
        """The channel of ``kind``, connecting first when needed."""
        if self.conn is not None:
            try:
                self.poll_input()
            except CONNECTION_ERRORS as exc:
                LOG.info("Publishing connection was closed (%s); reconnecting", exc)
                self.reset()
        if self.conn is None:
            self.conn = self.connector.open(retry=retry, deadline=deadline)
            self._channels = {}
            self.declared = set()
        channel = self._channels.get(kind)
        if channel is None or not channel.is_open:
            channel = self.conn.channel()
            if kind == self.CONFIRM:
                channel.confirm_select()
                channel.events["basic_return"].add(self._on_return)
            self._channels[kind] = channel
        return channel

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        self.returned = (exchange, routing_key)

    def drop_channel(self, kind: int) -> None:
        """Forget a channel the broker closed (a channel error); the next use reopens it."""
        self._channels.pop(kind, None)
        self.declared = set()

    def reset(self) -> None:
        """Drop the connection after a failure; the next use reconnects."""
        conn, self.conn = self.conn, None
        self._channels = {}
        self.declared = set()
        if conn is not None:
            try:
                conn.collect()
            except Exception:  # already broken: nothing more to release
                pass

    def close(self) -> None:
        conn, self.conn = self.conn, None
        self._channels = {}
        if conn is not None:
            try:
                conn.close()
            except Exception:
                try:
                    conn.collect()
                except Exception:
                    pass

    def poll_input(self) -> None:
        """Handle what the broker sent meanwhile (a connection.close, a heartbeat) before
        the next publish, so that an unconfirmed publish does not go into a connection the
        broker already closed. Costs one ``select`` when there is nothing to read."""
        conn = self.conn
        if conn is None:
            return
        sock = conn.transport.sock
        while select.select([sock], [], [], 0)[0]:
            try:
                conn.blocking_read(timeout=0.001)
            except TimeoutError:
                return

    def keepalive(self, rate: int) -> None:
        """Read what the broker sent (its heartbeats) and send ours when due.

        Raises a connection error when the broker has been silent too long.
        """
        conn = self.conn
        if conn is None:
            return
        for _ in range(100):
            try:
                conn.blocking_read(timeout=0.001)
            except TimeoutError:
                break
        conn.heartbeat_tick(rate=rate)
