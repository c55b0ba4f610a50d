"""Every public rpcmsg exception, under one root.

The tree::

    Exception
    ├── MessagingException                 root of everything rpcmsg raises
    │   ├── ConfigurationError             messaging is not configured correctly
    │   ├── MessagingTimeout               no reply (or keep-alive) in time
    │   ├── MessageDeliveryFailure         the broker refused or lost a send
    │   ├── MessageUndeliverable           nobody consumes the address (mandatory sends)
    │   ├── InvalidTarget (ValueError)     a Target unfit for the operation
    │   ├── InvalidTransportURL            the URL does not parse
    │   ├── DriverLoadFailure              no driver for the URL's scheme
    │   ├── RemoteError                    a remote exception not allowed to be rebuilt
    │   ├── RPCVersionCapError             message version above the client's cap
    │   ├── ClientSendError                the driver failed to send a client's message
    │   ├── TransportDriverError           raised by drivers at the seam
    │   │   └── TLSVerificationError       the broker's certificate or name did not verify
    │   ├── MessagingServerError
    │   │   ├── ExecutorLoadFailure        no executor of that name
    │   │   ├── ServerListenError          a server could not start consuming
    │   │   ├── TaskTimeout                start/stop/wait(timeout=) ran out waiting
    │   │   └── RPCDispatcherError
    │   │       ├── NoSuchMethod (AttributeError)
    │   │       └── UnsupportedVersion
    │   └── ExpectedException              wrapper used by ``expected_exceptions``

As in oslo.messaging, ``args`` is ``(message,)`` for the classes with a constructor of their
own (the constructor's arguments are attributes), and a bare ``MessagingException()`` has an
empty ``str()``. The names of the oslo.messaging modules defining each class, which go on the
wire in remote-error replies, are in ``rpcmsg._remote``.

Broker libraries' errors never escape rpcmsg: drivers translate them at their boundary into
``TransportDriverError`` (or one of the specific classes above) with ``raise ... from exc``.
The names, attributes and constructor signatures follow oslo.messaging so that code catching
``oslo_messaging.<Name>`` keeps working with ``import rpcmsg as oslo_messaging``.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

__all__ = [
    "ClientSendError",
    "ConfigurationError",
    "DriverLoadFailure",
    "ExecutorLoadFailure",
    "ExpectedException",
    "InvalidTarget",
    "InvalidTransportURL",
    "MessageDeliveryFailure",
    "MessageUndeliverable",
    "MessagingException",
    "MessagingServerError",
    "MessagingTimeout",
    "NoSuchMethod",
    "RPCDispatcherError",
    "RPCVersionCapError",
    "RemoteError",
    "ServerListenError",
    "TLSVerificationError",
    "TaskTimeout",
    "TransportDriverError",
    "UnsupportedVersion",
]


class MessagingException(Exception):
    """Base class of every exception rpcmsg raises.

    A plain ``Exception``, as oslo.messaging's: it takes any positional arguments, and
    ``str(MessagingException())`` is ``''``. Subclasses with a constructor of their own keep
    their readable message as ``args == (message,)``, as oslo.messaging's do, and the
    constructor's arguments as attributes.
    """


class ConfigurationError(MessagingException):
    """Messaging is not configured correctly (oslo.messaging's ``ConfigurationError``)."""


class MessagingTimeout(MessagingException):
    """A call got neither a reply nor a keep-alive within its timeout."""


class MessageDeliveryFailure(MessagingException):
    """The broker did not take a message (after every retry allowed)."""


class MessageUndeliverable(MessagingException):
    """A mandatory message could not be routed to any queue.

    Raised at once (without waiting for a timeout) when ``TransportOptions(at_least_once=True)``
    is used and the driver declares the ``mandatory`` capability.
    """

    def __init__(
        self,
        exception: BaseException | None = None,
        exchange: str | None = None,
        routing_key: str | None = None,
        message: Any = None,
    ) -> None:
        super().__init__(
            f"message to exchange {exchange!r} with routing key {routing_key!r} is undeliverable"
        )
        self.exception = exception
        self.exchange = exchange
        self.routing_key = routing_key
        self.message = message


class InvalidTarget(MessagingException, ValueError):
    """A Target lacks what an operation needs (for example a cast with no topic)."""

    def __init__(self, msg: str, target: Any) -> None:
        super().__init__(f"{msg}:{target}")
        self.target = target


class InvalidTransportURL(MessagingException):
    """A transport URL does not parse; the message names the problem."""

    def __init__(self, url: str | None, msg: str) -> None:
        super().__init__(msg)
        self.url = url


class DriverLoadFailure(MessagingException):
    """No driver is registered for the URL's scheme, or it failed to load."""

    def __init__(
        self,
        driver: str,
        ex: BaseException,
        available: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        names = ", ".join(sorted(available or [])) or "none"
        advice = f"; {hint}" if hint else ""
        super().__init__(
            f'Failed to load transport driver "{driver}": {ex}{advice} '
            f"(registered drivers: {names})"
        )
        self.driver = driver
        self.ex = ex
        self.available = list(available or [])


class RemoteError(MessagingException):
    """A remote endpoint raised an exception that may not be rebuilt locally.

    ``exc_type`` is the remote class name, ``value`` its message and ``traceback`` the remote
    traceback: the list of lines of the reply, as oslo.messaging gives it (and so shown as a
    list in ``str()``). Exceptions are rebuilt as their own class only when their module is
    ``builtins`` or listed in ``allowed_remote_exmods``; every other one arrives as this class.
    """

    def __init__(
        self, exc_type: str | None = None, value: str | None = None, traceback: Any = None
    ) -> None:
        self.exc_type = exc_type
        self.value = value
        self.traceback = traceback
        super().__init__(f"Remote error: {exc_type} {value}\n{traceback}.")


class RPCVersionCapError(MessagingException):
    """A message was to be sent with a version above the client's ``version_cap``."""

    def __init__(self, version: str | None, version_cap: str | None) -> None:
        super().__init__(
            f"Requested message version, {version} is incompatible.  It needs to be equal in "
            "major version and less than or equal in minor version as the specified version "
            f"cap {version_cap}."
        )
        self.version = version
        self.version_cap = version_cap


class ClientSendError(MessagingException):
    """The driver failed to send a client's message; ``ex`` is the driver's error."""

    def __init__(self, target: Any, ex: BaseException) -> None:
        super().__init__(f'Failed to send to target "{target}": {ex}')
        self.target = target
        self.ex = ex


class TransportDriverError(MessagingException):
    """Raised by drivers for broker failures; the original error is its ``__cause__``."""


class TLSVerificationError(TransportDriverError):
    """The broker's TLS certificate did not verify (an unknown CA, a host name it does not
    name, an expired certificate). Not transient, so raised at once instead of being retried
    like an unreachable broker; ``host`` is the broker, ``reason`` what failed and ``hint``
    the option that fixes it. The ``ssl`` error is the ``__cause__``."""

    def __init__(self, host: str, reason: str, hint: str) -> None:
        super().__init__(
            f"TLS certificate of the broker at {host} did not verify: {reason}. {hint}"
        )
        self.host = host
        self.reason = reason
        self.hint = hint


class MessagingServerError(MessagingException):
    """Base class for errors raised by servers."""


class ExecutorLoadFailure(MessagingServerError):
    """No executor of that name is registered, or it failed to load."""

    def __init__(self, executor: str, ex: BaseException) -> None:
        super().__init__(f'Failed to load executor "{executor}": {ex}')
        self.executor = executor
        self.ex = ex


class TaskTimeout(MessagingServerError):
    """A server's ``start``, ``stop`` or ``wait`` given ``timeout=`` ran out waiting for the
    step before it (or for another thread running the same step)."""


class ServerListenError(MessagingServerError):
    """A server could not start consuming its target."""

    def __init__(self, target: Any, ex: BaseException) -> None:
        super().__init__(f'Failed to listen on target "{target}": {ex}')
        self.target = target
        self.ex = ex


class RPCDispatcherError(MessagingServerError):
    """Base class for errors the RPC dispatcher reports to the caller."""


class NoSuchMethod(RPCDispatcherError, AttributeError):
    """No endpoint exposes the method for the message's namespace and version."""

    def __init__(self, method: str) -> None:
        super().__init__(f"Endpoint does not support RPC method {method}")
        self.method = method


class UnsupportedVersion(RPCDispatcherError):
    """No endpoint in the message's namespace supports the requested version."""

    def __init__(self, version: str, method: str | None = None) -> None:
        message = f"Endpoint does not support RPC version {version}"
        if method:
            message += f". Attempted method: {method}"
        super().__init__(message)
        self.version = version
        self.method = method


class ExpectedException(MessagingException):
    """Carries an exception an endpoint declared with ``expected_exceptions``.

    Built inside an ``except`` block; ``exc_info`` is the original exception's triple. The
    server re-raises the original to the caller and logs it at debug level only.
    """

    def __init__(self) -> None:
        info = sys.exc_info()
        self.exc_info: tuple[type[BaseException], BaseException, TracebackType | None] = info  # type: ignore[assignment]
        super().__init__()
