"""Opening aiormq connections: the URL's hosts in turn, TLS, heartbeats, deadlines.

The hosts, their order (``kombu_failover_strategy``, starting with the last one that
worked), the backoff between rounds and the reconnect delay come from the sync driver's
:class:`~rpcmsg_drivers.amqp.connection.Connector`, so both drivers fail over alike; this
module only opens the connection with aiormq.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any
from urllib.parse import quote

import aiormq
import aiormq.abc
from yarl import URL

from rpcmsg._url import TransportURL
from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from rpcmsg_drivers.aioamqp.errors import CONNECTION_ERRORS
from rpcmsg_drivers.amqp.connection import (
    CONNECT_TIMEOUT,
    CONNECTION_NAME,
    Connector,
    ssl_protocol,
)
from rpcmsg_drivers.amqp.errors import translate
from rpcmsg_drivers.amqp.options import Settings

__all__ = ["AsyncConnector", "left", "timeout_at"]

LOG = logging.getLogger(__name__)

_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, TimeoutError, ssl.SSLError)

#: aiormq's login mechanisms by ``rabbit_login_method``. aiormq has no AMQPLAIN (py-amqp's
#: default): PLAIN carries the same user and password, and RabbitMQ offers both by default.
_LOGIN = {"PLAIN": "PLAIN", "AMQPLAIN": "PLAIN", "EXTERNAL": "EXTERNAL"}


def left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``time.monotonic()``), never negative; None for none."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def timeout_at(deadline: float | None) -> asyncio.Timeout:
    """An ``asyncio.timeout`` ending at ``deadline`` (a ``time.monotonic()`` value)."""
    if deadline is None:
        return asyncio.timeout(None)
    loop = asyncio.get_running_loop()
    return asyncio.timeout_at(loop.time() + (deadline - time.monotonic()))


class _Connection(aiormq.Connection):
    """A connection that counts a broker silent for ``heartbeat_timeout_threshold`` seconds
    as dead (aiormq's default waits three times as long)."""

    HEARTBEAT_GRACE_MULTIPLIER = 1


#: ``ssl_version`` pins as protocol bounds of a client context (the old protocol constants
#: are deprecated for contexts).
_PINNED = {
    getattr(ssl, name): version
    for name, version in {
        "PROTOCOL_TLSv1": ssl.TLSVersion.TLSv1,
        "PROTOCOL_TLSv1_1": ssl.TLSVersion.TLSv1_1,
        "PROTOCOL_TLSv1_2": ssl.TLSVersion.TLSv1_2,
    }.items()
    if hasattr(ssl, name)
}


def ssl_context(settings: Settings, version: int | None) -> ssl.SSLContext:
    """The TLS context of ``ssl = true``: the broker's certificate is always verified
    (``ssl_ca_file`` or the system's authorities), its host name unless
    ``ssl_enforce_hostname_verification`` is false; ``ssl_version`` pins the protocol."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    pinned = _PINNED.get(version) if version is not None else None
    if pinned is not None:
        context.minimum_version = context.maximum_version = pinned
    elif version not in (None, ssl.PROTOCOL_SSLv23):
        raise ValueError(f"ssl_version {settings.ssl_version!r}: not supported by asyncio's TLS")
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = settings.ssl_enforce_hostname_verification
    if settings.ssl_ca_file:
        context.load_verify_locations(settings.ssl_ca_file)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if settings.ssl_cert_file:
        context.load_cert_chain(settings.ssl_cert_file, settings.ssl_key_file or None)
    return context


class AsyncConnector:
    """Opens aiormq connections to the URL's hosts, one round at a time."""

    def __init__(self, url: TransportURL, settings: Settings) -> None:
        self.settings = settings
        self.hosts = Connector(url, settings)
        login = settings.rabbit_login_method
        if login not in _LOGIN:
            raise ValueError(f"rabbit_login_method {login!r}: not supported by the asyncio driver")
        self._login = _LOGIN[login]
        self._ssl: ssl.SSLContext | None = None
        if settings.ssl:
            self._ssl = ssl_context(settings, ssl_protocol(settings.ssl_version))

    def _url(self, index: int) -> URL:
        hostname, port, user, password = self.hosts.hosts[index]
        vhost = self.hosts.virtual_host
        query = {
            "heartbeat": str(self.settings.heartbeat),
            "auth": self._login,
        }
        path = "/" if vhost == "/" else "/" + quote(vhost, safe="")
        return URL.build(
            scheme="amqps" if self._ssl else "amqp",
            user=user,
            password=password,
            host=hostname.strip("[]"),
            port=int(port),
            path=path,
            query=query,
            encoded=False,
        )

    async def _connect_one(self, index: int, timeout: float) -> aiormq.abc.AbstractConnection:
        conn = _Connection(
            self._url(index),
            context=self._ssl,
            client_properties={"product": "rpcmsg", "connection_name": CONNECTION_NAME},
        )
        try:
            async with asyncio.timeout(timeout):
                await conn.connect()
        except BaseException:
            # Cancelled or timed out mid-handshake: free the socket now, not at GC.
            closing = asyncio.ensure_future(conn.close())
            closing.add_done_callback(_retrieve)
            raise
        return conn

    async def open_round(self, deadline: float | None = None) -> aiormq.abc.AbstractConnection:
        """Connect to the first host that answers, trying each once, each for at most
        ``CONNECT_TIMEOUT`` seconds (less when ``deadline`` is nearer).

        Raises ``MessagingTimeout`` past ``deadline``, else ``TransportDriverError`` when no
        host answered.
        """
        last: BaseException | None = None
        for index in self.hosts.order():
            remaining = left(deadline)
            if remaining is not None and remaining <= 0:
                raise MessagingTimeout("Timed out connecting to RabbitMQ") from last
            budget = CONNECT_TIMEOUT if remaining is None else min(CONNECT_TIMEOUT, remaining)
            try:
                conn = await self._connect_one(index, budget)
            except _CONNECT_ERRORS as exc:
                LOG.warning("RabbitMQ at %s unreachable: %r", self.hosts.hosts[index][0], exc)
                last = exc
                continue
            self.hosts.worked(index)
            return conn
        assert last is not None
        if deadline is not None and time.monotonic() >= deadline:
            raise MessagingTimeout("Timed out connecting to RabbitMQ") from last
        raise translate(last, "connecting") from last

    async def open(
        self, *, retry: int | None = None, deadline: float | None = None
    ) -> aiormq.abc.AbstractConnection:
        """Rounds of :meth:`open_round`, ``retry`` more after the first (``None``/``-1``:
        for ever), waiting the driver's backoff between them, within ``deadline``."""
        rounds = 0
        while True:
            try:
                return await self.open_round(deadline)
            except TransportDriverError as exc:
                if retry is not None and 0 <= retry <= rounds:
                    raise
                delay = self.hosts.round_delay(rounds)
                remaining = left(deadline)
                if remaining is not None and remaining <= delay:
                    await asyncio.sleep(remaining)
                    raise MessagingTimeout("Timed out connecting to RabbitMQ") from exc
                rounds += 1
                await asyncio.sleep(delay)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Done callback of background work whose failure only matters as a log line."""
    if not task.cancelled() and task.exception() is not None:
        LOG.debug("Background AMQP work failed: %r", task.exception())


def background(coro: Any, tasks: set[asyncio.Future[Any]] | None = None) -> asyncio.Future[Any]:
    """Run ``coro`` as a task whose failure is only logged; kept in ``tasks`` until done."""
    task: asyncio.Future[Any] = asyncio.ensure_future(coro)
    task.add_done_callback(_retrieve)
    if tasks is not None:
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return task


async def close_quietly(conn: aiormq.abc.AbstractConnection | None, timeout: float = 2.0) -> None:
    """Close ``conn`` (already broken or not), for at most ``timeout`` seconds."""
    if conn is None or conn.is_closed:
        return
    try:
        async with asyncio.timeout(timeout):
            await conn.close()
    except (Exception, TimeoutError) as exc:
        LOG.debug("Closing an AMQP connection: %r", exc)
