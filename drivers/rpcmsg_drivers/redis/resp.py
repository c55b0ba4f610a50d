"""Commands on the hot paths, packed by hand: publishing, replies, pops and stream reads.

redis-py's command layer (argument encoding, observability hooks, retry wrappers, pool
bookkeeping) costs about as much Python time per command as the round trip itself on a fast
local Redis; a call makes four such commands. These helpers write RESP for a command whose
arguments are already bytes, str or int, and read the reply with the connection's own
parser, so errors, health checks and reconnection stay redis-py's.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, cast

import redis

__all__ = [
    "Connection",
    "connection_of",
    "execute",
    "execute_many_pooled",
    "execute_pooled",
    "pack",
]


class Connection(Protocol):
    """What these helpers use of a redis-py connection."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None: ...

    def read_response(self) -> Any: ...

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
