"""rpcmsg for asyncio: the sync API's names, with coroutines where there is I/O.

    transport = rpcmsg.asyncio.get_rpc_transport(conf, "rabbit://...")
    client = rpcmsg.asyncio.get_rpc_client(transport, rpcmsg.Target(topic="calc"))
    await client.call({}, "add", a=1, b=2)

Transports come from the same URLs and configuration as the sync ones; the driver is the
async driver registered for the URL's scheme (``rpcmsg.async_drivers`` entry points, see
:mod:`rpcmsg.driver.aio`). Everything above the driver (message format, reply correlation,
timeouts and the call monitor, dispatch, versioning, serializers, remote errors) is the
sync side's code, so both sides talk to each other on the wire. Exceptions are
:mod:`rpcmsg.exceptions`'. Targets are :class:`rpcmsg.Target`.
"""

from __future__ import annotations

from rpcmsg.asyncio._client import RPCClient, get_rpc_client
from rpcmsg.asyncio._listener import (
    BatchNotificationServer,
    NotificationServer,
    get_batch_notification_listener,
    get_notification_listener,
)
from rpcmsg.asyncio._notifier import Notifier
from rpcmsg.asyncio._rpcserver import RPCServer, get_rpc_server
from rpcmsg.asyncio._transport import (
    AsyncNotificationTransport,
    AsyncRPCTransport,
    AsyncTransport,
    get_notification_transport,
    get_rpc_transport,
)

__all__ = [
    "AsyncNotificationTransport",
    "AsyncRPCTransport",
    "AsyncTransport",
    "BatchNotificationServer",
    "NotificationServer",
    "Notifier",
    "RPCClient",
    "RPCServer",
    "get_batch_notification_listener",
    "get_notification_listener",
    "get_notification_transport",
    "get_rpc_client",
    "get_rpc_server",
    "get_rpc_transport",
]
