"""Which aiormq errors mean what (the asyncio twin of :mod:`rpcmsg_drivers.amqp.errors`).

*Connection* errors (sockets, the broker closing the connection, missed heartbeats, a
channel used after its connection died) are cured by reconnecting; *channel* errors (a
declaration that conflicts, a missing exchange) close only the channel and are reported.
Nothing from aiormq crosses the driver boundary: it is translated with the sync driver's
``translate`` into ``TransportDriverError``, or into ``MessageUndeliverable``,
``MessageDeliveryFailure``, ``MessagingTimeout``, raised ``from`` the original.
"""

from __future__ import annotations

import aiormq

__all__ = ["CHANNEL_ERRORS", "CONNECTION_ERRORS", "LINK_ERRORS"]

#: Errors after which the connection is unusable and must be opened again.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    aiormq.AMQPConnectionError,
    aiormq.ChannelInvalidStateError,
    aiormq.IncompatibleProtocolError,
    aiormq.ProtocolSyntaxError,
    RuntimeError,  # aiormq: "connection closed" when a channel is asked of a dead one
)

#: Errors that closed only the channel; the connection stays usable.
CHANNEL_ERRORS: tuple[type[BaseException], ...] = (aiormq.AMQPChannelError,)

#: What ends one attempt on a link: its connection or channel failed, or it timed out.
LINK_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *CONNECTION_ERRORS, *CHANNEL_ERRORS)
