"""Which redis-py errors mean what, and their translation into rpcmsg exceptions.

*Connection* errors (refused or reset sockets, timeouts, the server killing the client,
a Sentinel that knows no master, a replica that became read-only after a failover) are cured
by reconnecting and trying again. Every other ``RedisError`` (a wrong password, a bad
command) is reported at once: retrying it would only hide the problem. Nothing from
``redis`` crosses the driver boundary: ``translate`` wraps it into ``TransportDriverError``
with the original as ``__cause__``.
"""

from __future__ import annotations

import redis.exceptions

from rpcmsg.exceptions import TransportDriverError

__all__ = ["POP_ERRORS", "RETRYABLE", "REDIS_ERRORS", "retryable", "translate"]

#: Errors after which a connection is unusable and the command may be tried again.
RETRYABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.BusyLoadingError,
    OSError,
)

#: Every error redis-py raises.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)

#: What a blocking pop raises, also when its connection is closed under it by another thread
#: (``ValueError`` from the closed socket buffer).
POP_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, ValueError)


def retryable(exc: BaseException) -> bool:
    """Whether reconnecting may cure ``exc``; a refused login never is."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return False
    return isinstance(exc, RETRYABLE)


def translate(exc: BaseException, doing: str) -> TransportDriverError:
    """An rpcmsg error describing ``exc``, raised while ``doing`` something; raise it
    ``from exc``."""
    return TransportDriverError(f"Redis error while {doing}: {type(exc).__name__}: {exc}")
