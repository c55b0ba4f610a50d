"""From a transport URL to redis-py clients, and the retry policy for commands.

URL forms::

    redis://[[user]:password@]host[:port][/db-or-name][?option=value...]
    rediss://...                                       the same over TLS
    redis+sentinel://[[user]:password@]s1[:port],s2[:port].../db?sentinel_service_name=M

TLS (``rediss://``) is for a single Redis; the Sentinel form connects without TLS.

A numeric path selects the database; any other path is a virtual host name that scopes the
keys (database 0). ``redis://`` and ``rediss://`` take one host (default 127.0.0.1:6379);
``redis+sentinel://`` lists the Sentinels (default port 26379) and redis-py's Sentinel
support finds the current master of ``sentinel_service_name`` on every (re)connection, so a
failover is survived like any other connection loss. The credentials of the first host that
has any are those of the Redis master; ``sentinel_password`` authenticates to the Sentinels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import redis.sentinel
from redis.backoff import NoBackoff
from redis.retry import Retry

from rpcmsg._url import TransportURL
from rpcmsg.exceptions import InvalidTransportURL, MessagingTimeout
from rpcmsg_drivers.redis.errors import REDIS_ERRORS, retryable, translate
from rpcmsg_drivers.redis.options import Settings
from rpcmsg_drivers.redis.resp import connection_class, time_limit
from rpcmsg_drivers.redis.scripts import Scripts

__all__ = ["ClientFactory", "ConnectionConfig", "close_client", "parse_url"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("redis", "rediss", "redis+sentinel")
DEFAULT_PORT = 6379
SENTINEL_PORT = 26379


@dataclass(frozen=True)
class ConnectionConfig:
    """Where and how to connect, as parsed from the URL and the settings."""

    sentinel: bool
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    db: int
    namespace: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    service_name: str = ""
    sentinel_kwargs: dict[str, Any] = field(default_factory=dict)


def parse_url(url: TransportURL, settings: Settings) -> ConnectionConfig:
    """The connection config of ``url``; raises ``InvalidTransportURL`` naming the problem."""
    scheme = url.transport or ""
    if scheme not in SCHEMES:
        raise InvalidTransportURL(
            str(url), f"{url.to_string(mask=True)}: the Redis driver serves {', '.join(SCHEMES)}"
        )
    sentinel = scheme == "redis+sentinel"
    default_port = SENTINEL_PORT if sentinel else DEFAULT_PORT
    hosts = tuple((h.hostname or "127.0.0.1", h.port or default_port) for h in url.hosts) or (
        ("127.0.0.1", default_port),
    )
    if len(hosts) > 1 and not sentinel:
        raise InvalidTransportURL(
            str(url),
            f"{url.to_string(mask=True)}: {scheme}:// takes one host; list several Sentinels with redis+sentinel://",
        )
    db, namespace = 0, None
    vhost = (url.virtual_host or "").strip("/")
    if vhost.isdigit():
        db = int(vhost)
    elif vhost:
        namespace = vhost
    creds = next((h for h in url.hosts if h.username or h.password is not None), None)
    kwargs: dict[str, Any] = {
        "db": db,
        "username": (creds.username or None) if creds else None,
        "password": creds.password if creds else None,
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_keepalive": True,
        "health_check_interval": settings.health_check_interval,
        # Retries follow the transport's own ``retry`` argument and backoff, not redis-py's.
        "retry": Retry(NoBackoff(), 0),
    }
    tls = scheme == "rediss"
    if tls:
        kwargs.update(
            ssl_ca_certs=settings.ssl_ca_file or None,
            ssl_certfile=settings.ssl_cert_file or None,
            ssl_keyfile=settings.ssl_key_file or None,
            ssl_cert_reqs="required" if settings.ssl_verify else "none",
            ssl_check_hostname=settings.ssl_verify,
        )
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.socket_connect_timeout,
    }
    if settings.sentinel_password:
        sentinel_kwargs["password"] = settings.sentinel_password
    return ConnectionConfig(
        sentinel=sentinel,
        tls=tls,
        hosts=hosts,
        db=db,
        namespace=namespace,
        kwargs=kwargs,
        service_name=settings.sentinel_service_name,
        sentinel_kwargs=sentinel_kwargs,
    )


class ClientFactory:
    """Builds redis-py clients for one transport and runs commands with retries.

    ``shared`` is a pooled, thread-safe client for publishing and settling; ``dedicated()``
    gives a client of its own to a thread that blocks in Redis (a listener's reader).
    """

    def __init__(self, config: ConnectionConfig, settings: Settings, name: str) -> None:
        self.config = config
        self.settings = settings
        #: Prefix of the names of this transport's connections (``CLIENT LIST``).
        self.name = name
        self._sentinel: redis.sentinel.Sentinel | None = None
        if config.sentinel:
            self._sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                list(config.hosts), sentinel_kwargs=config.sentinel_kwargs, **config.kwargs
            )
        self.shared = self.dedicated(f"{name}:pub")
        #: The server-side scripts, usable with any client or pipeline of this transport.
        self.scripts = Scripts(self.shared)
        self._closed = threading.Event()

    def dedicated(self, name: str | None = None, single: bool = False) -> redis.Redis:
        """A new client with its own connection pool; ``name`` is set on each of its
        connections (``CLIENT SETNAME``), even after a reconnection. ``single`` keeps one
        connection for a client used by one thread only (no pool traffic per command)."""
        kwargs = dict(self.config.kwargs, client_name=name) if name else self.config.kwargs
        pool: redis.ConnectionPool
        if self._sentinel is not None:
            kwargs = dict(
                kwargs, connection_class=connection_class(redis.sentinel.SentinelManagedConnection)
            )
            pool = redis.sentinel.SentinelConnectionPool(  # type: ignore[no-untyped-call]
                self.config.service_name, self._sentinel, is_master=True, **kwargs
            )
        else:
            host, port = self.config.hosts[0]
            base = redis.SSLConnection if self.config.tls else redis.Connection
            kwargs = dict(kwargs, connection_class=connection_class(base))
            pool = redis.ConnectionPool(host=host, port=port, **kwargs)
        return redis.Redis(connection_pool=pool, single_connection_client=single)

    def run(
        self,
        op: Callable[[redis.Redis], T],
        retry: int | None,
        doing: str,
        deadline: float | None = None,
    ) -> T:
        """Run ``op`` on the shared client; on connection errors reconnect and try again as
        ``retry`` allows (``None``/-1: for ever, 0: never, N: N more times), waiting with
        backoff. Raises ``TransportDriverError`` from the last error, or ``MessagingTimeout``
        once the ``deadline`` (``time.monotonic()``) of a call's request has passed: each
        attempt gets the time left (see ``resp.time_limit``), not the full socket timeout."""
        attempt = 0
        while True:
            try:
                with time_limit(deadline):
                    return op(self.shared)
            except REDIS_ERRORS as exc:
                limited = retry is not None and retry >= 0
                if not retryable(exc) or (limited and attempt >= (retry or 0)) or self.closed:
                    raise translate(exc, doing) from exc
                delay = self.settings.backoff(attempt)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise MessagingTimeout(
                            f"Redis unreachable until the request expired, while {doing}: {exc}"
                        ) from exc
                    delay = min(delay, left)
                LOG.warning("Redis error while %s (%s); retrying in %.1fs", doing, exc, delay)
                if self._closed.wait(delay):
                    raise translate(exc, doing) from exc
                attempt += 1

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop retrying and drop the shared pool's connections."""
        self._closed.set()
        close_client(self.shared)


def close_client(client: redis.Redis | None) -> None:
    """Close ``client``'s connections, ignoring errors of connections already dead."""
    if client is None:
        return
    try:
        client.close()
        client.connection_pool.disconnect()
    except REDIS_ERRORS:
        pass
