"""Connections of the asyncio Redis driver, and commands run on them with retries.

Connections are ``redis.asyncio`` connections made from the sync driver's
:class:`~rpcmsg_drivers.redis.connection.ConnectionConfig` (same URL forms, credentials,
TLS, Sentinel lookup of the master on every connection, timeouts). Commands are packed by
hand (:func:`rpcmsg_drivers.redis.resp.pack`) and written in one go; the replies are read
with redis-py's parser.

A connection carries one exchange of commands at a time. It goes back to the pool only
when every reply of the exchange was read: an error of any other kind, a timeout or a
cancellation part way through discards it (closed, never reused), so a reply can never be
read by the wrong command. At most :data:`POOL_SIZE` pooled connections are open; more
concurrent senders wait their turn (within their deadline). Readers that block in Redis
(``XREADGROUP``, ``BLMPOP``) get connections of their own (:meth:`AsyncFactory.dedicated`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio
import redis.asyncio.sentinel
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from rpcmsg.exceptions import MessagingTimeout, TransportDriverError
from rpcmsg_drivers.redis.connection import ConnectionConfig
from rpcmsg_drivers.redis.errors import REDIS_ERRORS, retryable, translate
from rpcmsg_drivers.redis.options import Settings
from rpcmsg_drivers.redis.resp import pack
from rpcmsg_drivers.redis.scripts import SOURCES

__all__ = [
    "ATTEMPT_ERRORS",
    "POOL_SIZE",
    "READ_ERRORS",
    "AsyncFactory",
    "Connection",
    "discard",
    "roundtrip",
]

LOG = logging.getLogger(__name__)

Connection = redis.asyncio.Connection

#: Pooled connections of one transport at most (publishing, replies, settling).
POOL_SIZE = 32

#: SHA1 of each script, as Redis names it in ``EVALSHA``.
SHAS: dict[str, str] = {
    name: hashlib.sha1(src.encode()).hexdigest() for name, src in SOURCES.items()
}


#: What a command attempt may raise besides a cancellation (``TimeoutError``: its time is up).
ATTEMPT_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, TimeoutError)

#: What a reader's exchange may raise (``ValueError``: a buffer closed under it).
READ_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, ValueError, TimeoutError)


async def roundtrip(conn: Any, commands: Sequence[bytes], limit: float | None = None) -> list[Any]:
    """Write ``commands`` on ``conn`` at once and read their replies, in order, within
    ``limit`` seconds if given (``TimeoutError``); an error reply is returned in its place
    (the connection stays in step). Any other error, a timeout or a cancellation discards
    the connection before it propagates."""
    if limit is None:
        return await _exchange(conn, commands)
    async with asyncio.timeout(limit):
        return await _exchange(conn, commands)


async def _exchange(conn: Any, commands: Sequence[bytes]) -> list[Any]:
    try:
        if not conn.is_connected:
            # connect(), not the implicit connect of a send: a Sentinel-managed connection
            # asks the Sentinels for the master only there.
            await conn.connect()
        await conn.send_packed_command([b"".join(commands)], check_health=False)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except redis.exceptions.ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        await discard(conn)
        raise


async def discard(conn: Any | None) -> None:
    """Close ``conn`` without waiting for the peer; never raises (but ``CancelledError``)."""
    if conn is None:
        return
    try:
        await conn.disconnect(nowait=True)
    except Exception:  # already dead: nothing to close
        pass


def _loop_deadline(deadline: float) -> float:
    """``deadline`` (``time.monotonic()``) on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


class AsyncFactory:
    """Makes the connections of one transport and runs commands on its pool with the
    transport's retry policy."""

    def __init__(self, config: ConnectionConfig, settings: Settings, name: str) -> None:
        self.config = config
        self.settings = settings
        #: Prefix of the names of this transport's connections (``CLIENT LIST``).
        self.name = name
        # No socket timeout in redis-py: with one, its writes go through asyncio.wait_for,
        # which on Python 3.11 may swallow a cancellation; every exchange is bounded by an
        # asyncio.timeout here instead (the handshake included).
        # RESP2: the reply shapes the readers parse.
        kwargs = dict(config.kwargs, retry=Retry(NoBackoff(), 0), socket_timeout=None, protocol=2)
        self._maker: Any
        if config.sentinel:
            self._sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                list(config.hosts), sentinel_kwargs=config.sentinel_kwargs, **kwargs
            )
            self._maker = redis.asyncio.sentinel.SentinelConnectionPool(  # type: ignore[no-untyped-call]
                config.service_name, self._sentinel, is_master=True, **kwargs
            )
        else:
            host, port = config.hosts[0]
            cls = redis.asyncio.SSLConnection if config.tls else redis.asyncio.Connection
            self._maker = redis.asyncio.ConnectionPool(
                host=host, port=port, connection_class=cls, **kwargs
            )
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = asyncio.Event()

    def dedicated(self, name: str) -> Any:
        """A new, unconnected connection named ``name`` (``CLIENT SETNAME`` on every
        connect), for a reader that blocks in Redis."""
        kwargs = dict(self._maker.connection_kwargs, client_name=name)
        return self._maker.connection_class(**kwargs)

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise TransportDriverError(
                "this async Redis transport belongs to another event loop than the caller's"
            )

    async def pooled(self, commands: Sequence[bytes]) -> list[Any]:
        """One exchange on a pooled connection (see :func:`roundtrip`); raises redis-py
        errors."""
        self._check_loop()
        async with self._slots:
            conn = await self._take()
            replies = await roundtrip(conn, commands)  # discards conn on error
            self._idle.append(conn)
            return replies

    async def _take(self) -> Any:
        """An idle connection still in step (a closed socket or unread bytes, as after a
        ``CLIENT KILL``, mean it is not: it is discarded), or a new one."""
        while self._idle:
            conn = self._idle.pop()
            try:
                can_read = getattr(conn, "can_read", None) or conn.can_read_destructive
                if not await can_read():
                    return conn
            except READ_ERRORS:
                pass
            await discard(conn)
        return self.dedicated(f"{self.name}:pub")

    async def run(
        self,
        commands: Sequence[bytes],
        retry: int | None,
        doing: str,
        deadline: float | None = None,
    ) -> list[Any]:
        """:meth:`pooled`, again after connection errors as ``retry`` allows (``None``/-1:
        for ever, 0: never, N: N more times), with backoff. Each attempt ends by the
        ``deadline`` (``time.monotonic()``), or without one within the connect plus the
        socket timeout. Raises ``MessagingTimeout`` once the deadline passed,
        ``TransportDriverError`` from the last error otherwise."""
        attempt = 0
        per_attempt = self.settings.socket_connect_timeout + self.settings.socket_timeout
        while True:
            try:
                if deadline is not None:
                    async with asyncio.timeout_at(_loop_deadline(deadline)):
                        return await self.pooled(commands)
                async with asyncio.timeout(per_attempt):
                    return await self.pooled(commands)
            except ATTEMPT_ERRORS as exc:
                if deadline is not None and time.monotonic() >= deadline:
                    raise MessagingTimeout(
                        f"Redis did not answer before the request expired, while {doing}: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                limited = retry is not None and retry >= 0
                can_retry = isinstance(exc, TimeoutError) or retryable(exc)
                if not can_retry or (limited and attempt >= (retry or 0)) or self.closed:
                    raise translate(exc, doing) from exc
                delay = self.settings.backoff(attempt)
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                LOG.warning("Redis error while %s (%s); retrying in %.1fs", doing, exc, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closing.wait()
                attempt += 1

    async def command(
        self, retry: int | None, doing: str, *args: bytes | str | int, deadline: float | None = None
    ) -> Any:
        """One command through :meth:`run`; an error reply raises ``TransportDriverError``."""
        (reply,) = await self.run([pack(*args)], retry, doing, deadline)
        if isinstance(reply, Exception):
            raise translate(reply, doing) from reply
        return reply

    async def script(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[bytes | str | int],
        retry: int | None,
        doing: str,
        deadline: float | None = None,
    ) -> Any:
        """Run the script ``name`` (:data:`~rpcmsg_drivers.redis.scripts.SOURCES`) in one
        round trip; with its source when Redis does not know it yet (after a restart)."""
        (reply,) = await self.run(
            [pack(b"EVALSHA", SHAS[name], len(keys), *keys, *args)], retry, doing, deadline
        )
        if isinstance(reply, redis.exceptions.NoScriptError):
            (reply,) = await self.run(
                [pack(b"EVAL", SOURCES[name], len(keys), *keys, *args)], retry, doing, deadline
            )
        if isinstance(reply, Exception):
            raise translate(reply, doing) from reply
        return reply

    async def close(self) -> None:
        """Stop retrying and close the pooled connections."""
        self._closing.set()
        idle, self._idle = self._idle, []
        for conn in idle:
            await discard(conn)
