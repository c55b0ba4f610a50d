"""Commands on the hot paths, packed by hand: publishing, replies, pops and stream reads.

redis-py's command layer (argument encoding, observability hooks, retry wrappers, pool
bookkeeping) costs about as much Python time per command as the round trip itself on a fast
local Redis; a call makes four such commands. These helpers write RESP for a command whose
arguments are already bytes, str or int, and read the reply with the connection's own
parser, so errors, health checks and reconnection stay redis-py's.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol, cast

import redis

__all__ = [
    "Connection",
    "connection_class",
    "connection_of",
    "execute",
    "execute_many_pooled",
    "execute_pooled",
    "pack",
    "time_limit",
]

#: Per thread (green thread under eventlet): when its Redis I/O must end, inside time_limit.
_LIMITS: dict[int, float] = {}


@contextlib.contextmanager
def time_limit(deadline: float | None) -> Iterator[None]:
    """Within the block, this thread's commands (:func:`execute`) and the opening of new
    connections (:func:`connection_class`) end by ``deadline`` (``time.monotonic()``)
    rather than after the full socket timeouts: raising redis-py's ``TimeoutError``."""
    if deadline is None:
        yield
        return
    ident = threading.get_ident()
    previous = _LIMITS.get(ident)
    _LIMITS[ident] = deadline if previous is None else min(previous, deadline)
    try:
        yield
    finally:
        if previous is None:
            _LIMITS.pop(ident, None)
        else:
            _LIMITS[ident] = previous


def _time_left() -> float | None:
    deadline = _LIMITS.get(threading.get_ident())
    return None if deadline is None else max(0.001, deadline - time.monotonic())


class _BoundedOpening:
    """Mixin of redis-py connection classes: within :func:`time_limit`, everything the
    connection does ends by the thread's time limit, including the commands redis-py sends
    by itself (``CLIENT ID``, ``SCRIPT LOAD`` after ``NOSCRIPT``, the health check's
    ``PING``).

    Opening it (TCP connect, then the handshake: HELLO/AUTH, CLIENT SETNAME, SELECT ...)
    ends by the limit: a socket timeout bounds each read, not their sum, so against a Redis
    that answers each read slowly a timer shuts the socket down when the time is up. Each
    later send, read and poll gets the time left as its socket timeout.
    """

    socket_timeout: float | None
    socket_connect_timeout: float | None
    _sock: Any

    def connect(self) -> None:
        if _time_left() is None or self._sock is not None or getattr(self, "_opening", False):
            super().connect()  # type: ignore[misc]
            return
        self._bounded_open(super().connect)  # type: ignore[misc]

    def _bounded_open(self, open_it: Any) -> None:
        left = _time_left() or 0.001
        configured = self.socket_connect_timeout
        self.socket_connect_timeout = left if configured is None else min(configured, left)
        self._watchdog: threading.Timer | None = None
        self._opening = True
        try:
            open_it()
        finally:
            self._opening = False
            self.socket_connect_timeout = configured
            if self._watchdog is not None:
                self._watchdog.cancel()
            if self._sock is not None:  # from now on, the socket timeout as configured
                self._sock.settimeout(self.socket_timeout)

    # redis-py 6 and later open connections here, bypassing connect() (its pool, its sends).
    def connect_check_health(self, *args: Any, **kwargs: Any) -> None:
        if self._sock is not None or getattr(self, "_opening", False) or _time_left() is None:
            super().connect_check_health(*args, **kwargs)  # type: ignore[misc]
            return
        opening = super().connect_check_health  # type: ignore[misc]
        self._bounded_open(lambda: opening(*args, **kwargs))

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        with self._bounded_io(open_first=True):
            super().send_packed_command(command, check_health)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with self._bounded_io():
            return super().read_response(*args, **kwargs)  # type: ignore[misc]

    def can_read(self, timeout: float = 0) -> bool:
        left = _time_left()
        with self._bounded_io(open_first=True):
            wait = timeout if left is None else min(timeout, left)
            return bool(super().can_read(wait))  # type: ignore[misc]

    @contextlib.contextmanager
    def _bounded_io(self, open_first: bool = False) -> Iterator[None]:
        """The block's socket operations end by the time limit (``open_first``: open the
        connection first, if closed, by the limit too); the configured socket timeout is
        restored after it."""
        if _time_left() is None or getattr(self, "_opening", False):
            yield
            return
        if open_first and self._sock is None:
            self.connect()
        sock = self._sock
        if sock is not None:
            left = _time_left() or 0.001
            configured = self.socket_timeout
            sock.settimeout(left if configured is None else min(configured, left))
        try:
            yield
        finally:
            if sock is not None and sock is self._sock:
                with contextlib.suppress(OSError):
                    sock.settimeout(self.socket_timeout)

    def _connect(self) -> Any:
        sock = super()._connect()  # type: ignore[misc]
        left = _time_left()
        if left is not None and getattr(self, "_opening", False):
            sock.settimeout(left)
            self._watchdog = threading.Timer(left, _shut, (sock,))
            self._watchdog.daemon = True
            self._watchdog.start()
        return sock


def _shut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_BOUNDED: dict[type, type] = {}


def connection_class(base: type) -> type:
    """``base`` (a redis-py connection class) with openings and I/O bounded by
    :func:`time_limit`."""
    cls = _BOUNDED.get(base)
    if cls is None:
        cls = type(f"Bounded{base.__name__}", (_BoundedOpening, base), {})
        _BOUNDED[base] = cls
    return cls


class Connection(Protocol):
    """What these helpers use of a redis-py connection."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None: ...

    def read_response(self) -> Any: ...

    def can_read(self, timeout: float = 0) -> bool: ...

    def disconnect(self) -> None: ...


def connection_of(client: redis.Redis) -> Connection:
    """The connection of a client made with ``single_connection_client=True``."""
    if client.connection is None:
        raise redis.exceptions.ConnectionError("the client has no connection of its own")
    return cast(Connection, client.connection)


def pack(*args: bytes | str | int) -> bytes:
    """The RESP encoding of the command ``args``."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def execute(conn: Connection, command: bytes) -> Any:
    """Send ``command`` (from :func:`pack`) on ``conn`` and return its reply.

    Raises redis-py's errors: an error reply (``ResponseError``) leaves the connection
    usable; any other error disconnects it, so that its next use reconnects.
    """
    try:
        conn.send_packed_command([command])
        left = _time_left()
        if left is not None and not conn.can_read(timeout=left):
            raise redis.exceptions.TimeoutError("Redis did not answer by the deadline")
        return conn.read_response()
    except redis.exceptions.ResponseError:
        raise
    except BaseException:
        conn.disconnect()
        raise


_WANTS_COMMAND_NAME: dict[type, bool] = {}


def _wants_command_name(pool: Any) -> bool:
    # redis-py before 5.3 requires a command name that the pool ignores; 5.3 and later
    # deprecate passing one.
    wants = _WANTS_COMMAND_NAME.get(type(pool))
    if wants is None:
        try:
            param = inspect.signature(pool.get_connection).parameters.get("command_name")
        except (TypeError, ValueError):
            param = None
        wants = param is not None and param.default is inspect.Parameter.empty
        _WANTS_COMMAND_NAME[type(pool)] = wants
    return wants


def _get_connection(pool: Any) -> Any:
    if _wants_command_name(pool):
        return pool.get_connection("_")
    return pool.get_connection()


def execute_pooled(client: redis.Redis, command: bytes) -> Any:
    """:func:`execute` on a connection of ``client``'s pool."""
    pool = client.connection_pool
    conn = _get_connection(pool)
    try:
        return execute(cast(Connection, conn), command)
    finally:
        pool.release(conn)


def execute_many_pooled(client: redis.Redis, commands: list[bytes]) -> list[Any]:
    """Send ``commands`` in one write on a connection of ``client``'s pool and return their
    replies in order. An error reply is returned in its place, as its ``ResponseError``, so
    the connection stays in step; any other error disconnects it and is raised."""
    pool = client.connection_pool
    pooled = _get_connection(pool)
    conn = cast(Connection, pooled)
    try:
        conn.send_packed_command([b"".join(commands)])
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except redis.exceptions.ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(pooled)
