"""The public driver seam, for writing a driver (ours or a third party's).

See :mod:`rpcmsg.driver.base` for the contract, :mod:`rpcmsg.driver.aio` for its asyncio
twin, and ``docs/drivers.md`` for a guide.
:mod:`rpcmsg.driver.turns` helps a driver whose listeners read the broker in ``poll``
(the server's workers taking turns), :func:`load_settings` reads a driver's options, and a
driver calls :func:`note_reconnect` when it lost a connection and opens it again (counted
in the ``rpcmsg.reconnects`` metric when metrics are on; nothing otherwise).
"""

from __future__ import annotations

from rpcmsg._observe import note_reconnect
from rpcmsg.driver.aio import (
    AsyncDriver,
    AsyncIncomingMessage,
    AsyncListener,
    AsyncReplyConsumer,
    AsyncReplyHandler,
)
from rpcmsg.driver.base import (
    DEADLINE_SLACK,
    JSON,
    Capabilities,
    Driver,
    IncomingMessage,
    Listener,
    ReplyConsumer,
    ReplyHandler,
)
from rpcmsg.driver.settings import load_settings

__all__ = [
    "DEADLINE_SLACK",
    "JSON",
    "AsyncDriver",
    "AsyncIncomingMessage",
    "AsyncListener",
    "AsyncReplyConsumer",
    "AsyncReplyHandler",
    "Capabilities",
    "Driver",
    "IncomingMessage",
    "Listener",
    "ReplyConsumer",
    "ReplyHandler",
    "load_settings",
    "note_reconnect",
]
