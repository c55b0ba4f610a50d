"""RPCDispatcher: from a request message to an endpoint method, by namespace and version."""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from rpcmsg.exceptions import (
    ExpectedException,
    NoSuchMethod,
    RPCDispatcherError,
    UnsupportedVersion,
)
from rpcmsg.serializer import NoOpSerializer, Serializer
from rpcmsg.target import Target

__all__ = [
    "DefaultRPCAccessPolicy",
    "ExpectedException",
    "ExplicitRPCAccessPolicy",
    "LegacyRPCAccessPolicy",
    "NoSuchMethod",
    "PING_METHOD",
    "RPCAccessPolicyBase",
    "RPCDispatcher",
    "RPCDispatcherError",
    "UnsupportedVersion",
    "expected_exceptions",
    "expose",
    "version_is_compatible",
]

LOG = logging.getLogger(__name__)

PING_METHOD = "oslo_rpc_server_ping"

F = TypeVar("F", bound=Callable[..., Any])


class RPCAccessPolicyBase(abc.ABC):
    """Decides which endpoint methods may be called remotely."""

    @abc.abstractmethod
    def is_allowed(self, endpoint: Any, method: str) -> bool:
        """True when ``method`` of ``endpoint`` may be called by a remote client."""


class LegacyRPCAccessPolicy(RPCAccessPolicyBase):
    """Every method is callable, private ones included (old oslo.messaging behaviour)."""

    def is_allowed(self, endpoint: Any, method: str) -> bool:
        return True


class DefaultRPCAccessPolicy(RPCAccessPolicyBase):
    """Every method but the private ones (names starting with ``_``). The default."""

    def is_allowed(self, endpoint: Any, method: str) -> bool:
        return not method.startswith("_")


class ExplicitRPCAccessPolicy(RPCAccessPolicyBase):
    """Only methods decorated with :func:`expose`."""

    def is_allowed(self, endpoint: Any, method: str) -> bool:
        return bool(getattr(getattr(endpoint, method, None), "exposed", False))


def expose(func: F) -> F:
    """Mark an endpoint method as callable under :class:`ExplicitRPCAccessPolicy`."""
    func.exposed = True  # type: ignore[attr-defined]
    return func


def expected_exceptions(*exceptions: type[BaseException]) -> Callable[[F], F]:
    """Declare exceptions an endpoint method raises as part of its contract.

    They reach the caller as usual but the server logs them at debug level only, not as
    server errors.
    """

    def outer(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except exceptions:
                raise ExpectedException()

        return inner  # type: ignore[return-value]

    return outer


def version_is_compatible(imp_version: str, version: str) -> bool:
    """True when an endpoint at ``imp_version`` can serve a request for ``version``:
    same major version, and a minor (then revision) no lower than requested."""
    try:
        imp = [int(p) for p in imp_version.split(".")]
        req = [int(p) for p in version.split(".")]
    except (ValueError, AttributeError):
        return False
    imp += [0] * (3 - len(imp))
    req += [0] * (3 - len(req))
    if imp[0] != req[0]:
        return False
    return (imp[1], imp[2]) >= (req[1], req[2])


class _PingEndpoint:
    target = Target(namespace=None, version="1.0")

    def oslo_rpc_server_ping(self, ctxt: Any, **kwargs: Any) -> str:
        return "pong"


class IncomingRequest(NamedTuple):
    """What the dispatcher needs of a request: its context dict and the message."""

    ctxt: dict[str, Any]
    message: dict[str, Any]


class RPCDispatcher:
    """Finds the endpoint method for a request and calls it through the serializer.

    An endpoint's ``target`` attribute (default ``Target()``, version 1.0) gives the
    namespace it serves and its version. A request goes to the first endpoint whose accepted
    namespaces include the request's namespace, whose version is compatible, and which has
    the method allowed by the access policy. Failing that the dispatcher raises
    ``NoSuchMethod`` (a compatible endpoint exists, without the method) or
    ``UnsupportedVersion`` (none is compatible).
    """

    def __init__(
        self,
        endpoints: Iterable[Any],
        serializer: Serializer | None = None,
        access_policy: RPCAccessPolicyBase | type[RPCAccessPolicyBase] | None = None,
        ping_enabled: bool = False,
    ) -> None:
        self.endpoints = list(endpoints)
        if ping_enabled:
            self.endpoints.append(_PingEndpoint())
        self.serializer = serializer or NoOpSerializer()
        if access_policy is None:
            access_policy = DefaultRPCAccessPolicy()
        elif isinstance(access_policy, type):
            access_policy = access_policy()
        if not isinstance(access_policy, RPCAccessPolicyBase):
            raise TypeError("access_policy must be an RPCAccessPolicyBase")
        self.access_policy = access_policy
        self._targets = [getattr(e, "target", None) or Target() for e in self.endpoints]

    def dispatch(self, incoming: Any) -> Any:
        """Call the endpoint method ``incoming.message`` names and return its serialized
        result. Raises what the method raises, ``NoSuchMethod``, ``UnsupportedVersion`` or
        ``RPCDispatcherError`` for a malformed request."""
        message = incoming.message
        method = message.get("method")
        if not isinstance(method, str) or not method:
            raise RPCDispatcherError(f"Malformed request: no method name in {sorted(message)}")
        args = message.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise RPCDispatcherError(
                f"Malformed request for {method}: args is a {type(args).__name__}, not a mapping"
            )
        namespace = message.get("namespace")
        version = message.get("version") or "1.0"
        if not isinstance(version, str):
            raise UnsupportedVersion(str(version), method=method)

        found_compatible = False
        for endpoint, target in zip(self.endpoints, self._targets, strict=True):
            if namespace not in target.accepted_namespaces:
                continue
            if not version_is_compatible(target.version or "1.0", version):
                continue
            found_compatible = True
            func = getattr(endpoint, method, None)
            if callable(func) and self.access_policy.is_allowed(endpoint, method):
                return self._call(func, incoming.ctxt, args)
        if found_compatible:
            raise NoSuchMethod(method)
        raise UnsupportedVersion(version, method=method)

    def _call(self, func: Callable[..., Any], ctxt: Any, args: dict[str, Any]) -> Any:
        serializer = self.serializer
        ctxt = serializer.deserialize_context(ctxt)
        kwargs = {k: serializer.deserialize_entity(ctxt, v) for k, v in args.items()}
        result = func(ctxt, **kwargs)
        return serializer.serialize_entity(ctxt, result)
