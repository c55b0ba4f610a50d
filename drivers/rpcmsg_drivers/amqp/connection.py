"""Opening connections: the URL's hosts in turn, with backoff, SSL and heartbeats.

:class:`Connector` knows the hosts and how to reach them; every connection the driver opens
(publishers, listeners, reply consumers) comes from ``Connector.open``, so failover and backoff
behave the same everywhere.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import amqp

from rpcmsg._url import TransportURL
from rpcmsg.exceptions import MessagingTimeout, TLSVerificationError, TransportDriverError
from rpcmsg_drivers.amqp.errors import CHANNEL_ERRORS, CONNECTION_ERRORS, translate
from rpcmsg_drivers.amqp.options import Settings
from rpcmsg_drivers.amqp.sockets import bounded_transport

__all__ = [
    "CLOSE_TIMEOUT",
    "CONNECTION_NAME",
    "Connector",
    "close_connection",
    "remaining",
    "set_io_deadline",
]

LOG = logging.getLogger(__name__)

#: Upper bound for one TCP/AMQP connection attempt to one host (less when a deadline is
#: nearer).
CONNECT_TIMEOUT = 5.0

#: Upper bound (seconds) for closing one connection: the closing handshake and a consumer's
#: last operations (cancelling, deleting its temporary queues); past it the socket is dropped.
CLOSE_TIMEOUT = 1.0

#: Shown by ``rabbitmqctl list_connections client_properties``: which process owns it.
CONNECTION_NAME = f"rpcmsg:{os.path.basename(sys.argv[0]) if sys.argv else ''}:{os.getpid()}"


#: ``ssl_version`` values (any case), oslo.messaging's: the protocol a TLS connection is
#: pinned to. ``sslv23`` negotiates the best both sides have, as no ``ssl_version`` does.
_SSL_PROTOCOLS = {
    name: getattr(ssl, constant)
    for name, constant in {
        "sslv23": "PROTOCOL_SSLv23",
        "tlsv1": "PROTOCOL_TLSv1",
        "tlsv1_1": "PROTOCOL_TLSv1_1",
        "tlsv1_2": "PROTOCOL_TLSv1_2",
        "sslv3": "PROTOCOL_SSLv3",
        "sslv2": "PROTOCOL_SSLv2",
    }.items()
    if hasattr(ssl, constant)
}


#: OpenSSL's verify codes for a certificate that does not name the host (name, e-mail, IP).
_NAME_MISMATCH = {62, 63, 64}


def ssl_protocol(version: str) -> int | None:
    """The ``ssl.PROTOCOL_*`` constant ``ssl_version`` names, None for an empty one; raises
    ``ValueError`` naming the values this Python has for any other."""
    if not version:
        return None
    try:
        return int(_SSL_PROTOCOLS[version.lower()])
    except KeyError:
        raise ValueError(
            f"Invalid ssl_version {version!r}: this Python offers {', '.join(_SSL_PROTOCOLS)}"
        ) from None


def remaining(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (a ``time.monotonic()`` value), never negative."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def close_connection(conn: amqp.Connection, deadline: float | None = None) -> None:
    """Close ``conn`` politely (connection.close, then the broker's close-ok), its socket I/O
    ending by ``deadline`` (default: ``CLOSE_TIMEOUT`` from now); past it, or when the broker
    fails, the socket is just dropped. Never raises."""
    if deadline is None:
        deadline = time.monotonic() + CLOSE_TIMEOUT
    set_io_deadline(conn, deadline)
    try:
        conn.close()
    except Exception:  # silent or broken: free what is left
        try:
            conn.collect()
        except Exception:
            pass


def set_io_deadline(conn: amqp.Connection, deadline: float | None) -> None:
    """Make every socket read and write of ``conn`` end by ``deadline`` (``None``: only the
    socket's own timeout), a whole frame included (:mod:`rpcmsg_drivers.amqp.sockets`)."""
    transport = getattr(conn, "transport", None)
    if transport is not None:
        transport.io_deadline = deadline


class _Connection(amqp.Connection):  # type: ignore[misc]
    """An ``amqp.Connection`` whose opening ends by a deadline, on a bounded transport.

    py-amqp reads ``connect_timeout`` for the TCP connect, the TLS handshake and again
    before each frame of the AMQP handshake, so returning the time left bounds the whole
    opening, not each step, against a broker that answers slowly or not at all; the
    transport's ``io_deadline`` bounds each frame of the handshake as a whole.
    """

    deadline: float | None = None

    def Transport(  # py-amqp's factory method, its signature
        self,
        host: str,
        connect_timeout: float,
        ssl: Any = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        transport = bounded_transport(
            host,
            connect_timeout,
            ssl=ssl,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            **kwargs,
        )
        transport.io_deadline = self.deadline
        return transport

    @property
    def connect_timeout(self) -> float:
        if self.deadline is None:
            return self._connect_timeout
        return max(0.001, min(self._connect_timeout, self.deadline - time.monotonic()))

    @connect_timeout.setter
    def connect_timeout(self, value: float) -> None:
        self._connect_timeout = value


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
        self._ssl_version = ssl_protocol(settings.ssl_version) if settings.ssl else None
        if settings.ssl_enforce_fips_mode:
            LOG.warning("ssl_enforce_fips_mode is deprecated and has no effect")

    @property
    def hosts(self) -> list[tuple[str, str, str, str]]:
        """``(hostname, port, user, password)`` of each host of the URL, in its order."""
        return self._hosts

    def order(self) -> list[int]:
        """The indexes of :attr:`hosts` in the order one round tries them (see the class
        docstring)."""
        n = len(self._hosts)
        if self.settings.kombu_failover_strategy == "shuffle":
            order = list(range(n))
            random.shuffle(order)
            return order
        with self._lock:
            start = self._current
        return [(start + i) % n for i in range(n)]

    def worked(self, index: int) -> None:
        """Host ``index`` answered: the next round starts with it (round-robin)."""
        with self._lock:
            self._current = index

    def round_delay(self, rounds: int) -> float:
        """Seconds to wait after ``rounds + 1`` failed rounds over the hosts."""
        s = self.settings
        return float(
            min(s.rabbit_retry_interval + rounds * s.rabbit_retry_backoff, s.rabbit_interval_max)
        )

    def reconnect_delay(self) -> float:
        """Seconds to wait before reconnecting a lost consumer: ``kombu_reconnect_delay`` plus
        a random part of ``kombu_reconnect_splay`` (spreading the reconnections of many
        processes after a broker failure)."""
        s = self.settings
        splay = random.uniform(0.0, s.kombu_reconnect_splay) if s.kombu_reconnect_splay > 0 else 0.0
        return max(0.0, s.kombu_reconnect_delay) + splay

    def _ssl_options(self, hostname: str) -> Any:
        """py-amqp's ``ssl`` argument for a connection to ``hostname``.

        The broker's certificate is always verified: against ``ssl_ca_file``, or the system's
        certificate authorities without one (py-amqp loads them when no CA file is given
        and verification is required). Its host name is checked too unless
        ``ssl_enforce_hostname_verification`` is false: each host of the URL against its own
        name, which also goes out as SNI.
        """
        s = self.settings
        if not s.ssl:
            return False
        options: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED}
        if s.ssl_ca_file:
            options["ca_certs"] = s.ssl_ca_file
        if s.ssl_cert_file:
            options["certfile"] = s.ssl_cert_file
        if s.ssl_key_file:
            options["keyfile"] = s.ssl_key_file
        if self._ssl_version is not None:
            options["ssl_version"] = self._ssl_version
        if s.ssl_enforce_hostname_verification:
            options["server_hostname"] = hostname.strip("[]")
        return options

    def _untrusted(self, index: int, exc: ssl.SSLCertVerificationError) -> TLSVerificationError:
        """The error for host ``index``, whose certificate did not verify, naming the
        option that fixes it; its ``__cause__`` is ``exc``."""
        hostname, port = self._hosts[index][:2]
        reason = str(exc)
        if getattr(exc, "verify_code", None) in _NAME_MISMATCH:
            hint = (
                "Connect by a name the certificate has, or set "
                "ssl_enforce_hostname_verification = false to skip the host name check"
            )
        else:
            ca = self.settings.ssl_ca_file
            hint = (
                f"Set ssl_ca_file to the CA that signed the broker's certificate (now: {ca})"
                if ca
                else "Set ssl_ca_file to the CA that signed the broker's certificate (now "
                "unset: the system's CAs are used)"
            )
        error = TLSVerificationError(f"{hostname}:{port}", reason, hint)
        error.__cause__ = exc
        return error

    def _connect_one(self, index: int, deadline: float | None) -> amqp.Connection:
        hostname, port, user, password = self._hosts[index]
        conn = _Connection(
            host=f"{hostname}:{port}",
            userid=user,
            password=password,
            virtual_host=self.virtual_host,
            login_method=self.settings.rabbit_login_method,
            ssl=self._ssl_options(hostname),
            connect_timeout=CONNECT_TIMEOUT,
            heartbeat=self.settings.heartbeat,
            client_properties={"product": "rpcmsg", "connection_name": CONNECTION_NAME},
        )
        conn.deadline = deadline
        conn.connect()
        if deadline is not None and time.monotonic() >= deadline:
            conn.collect()
            raise TimeoutError("the connection opened too late")
        conn.deadline = None
        set_io_deadline(conn, None)
        return conn

    def open(
        self,
        *,
        retry: int | None = None,
        deadline: float | None = None,
        wait: Callable[[float], bool] | None = None,
    ) -> amqp.Connection:
        """Connect to the first host that answers.

        ``retry`` counts the rounds after the first (``None``/``-1``: for ever); a round
        in which no host connected and a certificate did not verify raises
        ``TLSVerificationError`` at once, whatever ``retry`` says. ``deadline``
        (monotonic) turns running out of time into ``MessagingTimeout``. ``wait(seconds)``
        sleeps between rounds and returns True to give up (a listener being closed); giving up
        or exhausting ``retry`` raises ``TransportDriverError``.
        """
        rounds = 0
        while True:
            last: BaseException | None = None
            untrusted: TLSVerificationError | None = None
            for index in self.order():
                left = remaining(deadline)
                if left is not None and left <= 0:
                    raise MessagingTimeout("Timed out connecting to RabbitMQ") from last
                try:
                    conn = self._connect_one(index, deadline)
                except ssl.SSLCertVerificationError as exc:
                    untrusted = self._untrusted(index, exc)
                    LOG.error("%s", untrusted)
                    last = exc
                    continue
                except CONNECTION_ERRORS + CHANNEL_ERRORS as exc:
                    LOG.warning("RabbitMQ at %s unreachable: %s", self._hosts[index][0], exc)
                    last = exc
                    continue
                self.worked(index)
                if rounds:
                    LOG.info("Reconnected to RabbitMQ at %s", self._hosts[index][0])
                return conn
            assert last is not None
            if untrusted is not None:  # no host could be trusted: retrying will not help
                raise untrusted from untrusted.__cause__
            if retry is not None and retry >= 0 and rounds >= retry:
                raise translate(last, "connecting") from last
            delay = self.round_delay(rounds)
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
