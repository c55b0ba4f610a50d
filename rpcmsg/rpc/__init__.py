"""RPC: clients, servers and the dispatcher (``oslo_messaging.rpc`` compatible)."""

from __future__ import annotations

from rpcmsg.exceptions import (
    ClientSendError,
    ExpectedException,
    NoSuchMethod,
    RemoteError,
    RPCDispatcherError,
    RPCVersionCapError,
    UnsupportedVersion,
)
from rpcmsg.rpc.client import RPCClient, get_rpc_client
from rpcmsg.rpc.dispatcher import (
    DefaultRPCAccessPolicy,
    ExplicitRPCAccessPolicy,
    LegacyRPCAccessPolicy,
    RPCAccessPolicyBase,
    RPCDispatcher,
    expected_exceptions,
    expose,
)
from rpcmsg.rpc.server import RPCServer, get_rpc_server
from rpcmsg.rpc.transport import get_rpc_transport

__all__ = [
    "ClientSendError",
    "DefaultRPCAccessPolicy",
    "ExpectedException",
    "ExplicitRPCAccessPolicy",
    "LegacyRPCAccessPolicy",
    "NoSuchMethod",
    "RPCAccessPolicyBase",
    "RPCClient",
    "RPCDispatcher",
    "RPCDispatcherError",
    "RPCServer",
    "RPCVersionCapError",
    "RemoteError",
    "UnsupportedVersion",
    "expected_exceptions",
    "expose",
    "get_rpc_client",
    "get_rpc_server",
    "get_rpc_transport",
]
