"""Which py-amqp/kombu errors mean what, and their translation into rpcmsg exceptions.

Two families matter: *connection* errors (socket failures, the broker closing the connection,
missed heartbeats) are cured by reconnecting, possibly to another host; *channel* errors (a
declaration that conflicts with an existing queue, a missing exchange) close only the channel
and are reported to the caller. Nothing from ``amqp`` or ``kombu`` crosses the driver boundary:
``translate`` wraps it into ``TransportDriverError`` with the original as ``__cause__``.
"""

from __future__ import annotations

import socket

import amqp.exceptions

from rpcmsg.exceptions import TransportDriverError

__all__ = ["CHANNEL_ERRORS", "CONNECTION_ERRORS", "translate"]

#: Errors after which the connection is unusable and must be opened again.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.timeout,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    amqp.exceptions.IrrecoverableConnectionError,
    amqp.exceptions.MessageNacked,
)

#: Errors that closed only the channel; the connection stays usable.
CHANNEL_ERRORS: tuple[type[BaseException], ...] = (
    amqp.exceptions.ChannelError,
    amqp.exceptions.RecoverableChannelError,
    amqp.exceptions.IrrecoverableChannelError,
)


def translate(exc: BaseException, doing: str) -> TransportDriverError:
    """An rpcmsg error describing ``exc``, raised while ``doing`` something; raise it
    ``from exc``."""
    return TransportDriverError(f"RabbitMQ error while {doing}: {type(exc).__name__}: {exc}")
