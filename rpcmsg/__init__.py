"""rpcmsg: RPC and notifications over message brokers, a drop-in for oslo.messaging.

``import rpcmsg as oslo_messaging`` gives a program written against oslo.messaging's public
API the same names, signatures and behaviour. The implementation lives in private modules
and subpackages; this module re-exports the public surface, pinned by ``__all__``.
"""

from __future__ import annotations

from rpcmsg.exceptions import (
    ClientSendError,
    DriverLoadFailure,
    ExecutorLoadFailure,
    ExpectedException,
    InvalidTarget,
    InvalidTransportURL,
    MessageDeliveryFailure,
    MessageUndeliverable,
    MessagingException,
    MessagingServerError,
    MessagingTimeout,
    NoSuchMethod,
    RemoteError,
    RPCDispatcherError,
    RPCVersionCapError,
    ServerListenError,
    UnsupportedVersion,
)
from rpcmsg.notify import (
    LoggingErrorNotificationHandler,
    LoggingNotificationHandler,
    NotificationFilter,
    NotificationResult,
    Notifier,
    PublishErrorsHandler,
    get_batch_notification_listener,
    get_notification_listener,
    get_notification_transport,
)
from rpcmsg.rpc import (
    DefaultRPCAccessPolicy,
    ExplicitRPCAccessPolicy,
    LegacyRPCAccessPolicy,
    RPCAccessPolicyBase,
    RPCClient,
    RPCDispatcher,
    expected_exceptions,
    expose,
    get_rpc_client,
    get_rpc_server,
)
from rpcmsg.serializer import JsonPayloadSerializer, NoOpSerializer, Serializer
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import (
    Transport,
    TransportHost,
    TransportOptions,
    TransportURL,
    get_rpc_transport,
    get_transport,
    set_transport_defaults,
)

__version__ = "0.1.0"

__all__ = [
    "ClientSendError",
    "DefaultRPCAccessPolicy",
    "DriverLoadFailure",
    "ExecutorLoadFailure",
    "ExpectedException",
    "ExplicitRPCAccessPolicy",
    "InvalidTarget",
    "InvalidTransportURL",
    "JsonPayloadSerializer",
    "LegacyRPCAccessPolicy",
    "LoggingErrorNotificationHandler",
    "LoggingNotificationHandler",
    "MessageDeliveryFailure",
    "MessageHandlingServer",
    "MessageUndeliverable",
    "MessagingException",
    "MessagingServerError",
    "MessagingTimeout",
    "NoOpSerializer",
    "NoSuchMethod",
    "NotificationFilter",
    "NotificationResult",
    "Notifier",
    "PublishErrorsHandler",
    "RPCAccessPolicyBase",
    "RPCClient",
    "RPCDispatcher",
    "RPCDispatcherError",
    "RPCVersionCapError",
    "RemoteError",
    "Serializer",
    "ServerListenError",
    "Target",
    "Transport",
    "TransportHost",
    "TransportOptions",
    "TransportURL",
    "UnsupportedVersion",
    "expected_exceptions",
    "expose",
    "get_batch_notification_listener",
    "get_notification_listener",
    "get_notification_transport",
    "get_rpc_client",
    "get_rpc_server",
    "get_rpc_transport",
    "get_transport",
    "set_transport_defaults",
]
