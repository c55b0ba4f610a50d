"""RPCDispatcher: from a request message to an endpoint method, by namespace and version."""

from __future__ import annotations

import abc
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from oslo_config import cfg

from rpcmsg import _serving
from rpcmsg.dispatcher import DispatcherBase
from rpcmsg.exceptions import (
    ExpectedException,
    NoSuchMethod,
    RPCDispatcherError,
    UnsupportedVersion,
)
from rpcmsg.opts import register_opts
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
        if inspect.iscoroutinefunction(func):  # an async endpoint stays one

            @functools.wraps(func)
            async def ainner(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except exceptions:
                    raise ExpectedException()

            return ainner  # type: ignore[return-value]

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


class PingEndpoint:
    """Answers ``oslo_rpc_server_ping`` with ``"pong"``; added by :class:`RPCDispatcher` when
    ``rpc_ping_enabled`` is set and no endpoint has a method of that name."""

    #: Left out of introspection answers (:mod:`rpcmsg._introspect`), as infrastructure.
    rpcmsg_internal = True

    def oslo_rpc_server_ping(self, ctxt: Any, **kwargs: Any) -> str:
        return "pong"


class IncomingRequest(NamedTuple):
    """The least :meth:`RPCDispatcher.dispatch` needs: the context dict and the message.

    Servers pass a richer object (with ``reply``, ``heartbeat``, ``client_timeout``, as
    oslo.messaging's incoming messages have); this one is for calling a dispatcher directly.
    """

    ctxt: dict[str, Any]
    message: dict[str, Any]
    client_timeout: float | None = None


def _ping_enabled_in_global_conf() -> bool:
    # oslo.messaging's dispatcher reads the global configuration, not the transport's.
    register_opts(cfg.CONF)
    try:
        return bool(cfg.CONF.rpc_ping_enabled)
    except cfg.Error:  # the global conf is not parsed in this process: take the default
        return False


class _Watchdog:
    """Calls ``incoming.heartbeat()`` every ``interval`` seconds until stopped.

    A heartbeat that raises ends the keep-alives (oslo.messaging's contract: the caller or
    the broker is gone, and the call's own timeout decides). One that returns False was not
    sent this time and is tried again after a quarter interval, so that one lost keep-alive
    does not leave the caller a whole call monitor timeout without news.
    """

    def __init__(self, incoming: Any, interval: float) -> None:
        self._incoming = incoming
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rpcmsg-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait = self._interval
        while not self._done.wait(wait):
            try:
                sent = self._incoming.heartbeat()
            except Exception as exc:
                LOG.debug("Call-monitor heartbeat failed: %s", exc)
                return
            wait = _serving.heartbeat_wait(self._interval, sent)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


class RPCDispatcher(DispatcherBase):
    """Finds the endpoint method for a request and calls it through the serializer.

    An endpoint's ``target`` attribute (default ``Target()``, version 1.0) gives the
    namespace it serves and its version; a ``target`` that is not a :class:`Target` is a
    ``TypeError`` here. A request goes to the first endpoint whose accepted namespaces
    include the request's namespace, whose version is compatible, and which has the method
    allowed by the access policy. Failing that the dispatcher raises ``NoSuchMethod`` (a
    compatible endpoint exists, without the method) or ``UnsupportedVersion`` (none is
    compatible).

    ``endpoints`` is kept as given (the same list). With ``rpc_ping_enabled`` a
    :class:`PingEndpoint` is appended to it, unless an endpoint already has
    ``oslo_rpc_server_ping``. ``ping_enabled=None`` reads ``rpc_ping_enabled`` from the
    global ``cfg.CONF`` as oslo.messaging does; :func:`~rpcmsg.get_rpc_server` also enables
    it when the transport's configuration sets it.
    """

    def __init__(
        self,
        endpoints: Iterable[Any],
        serializer: Serializer | None = None,
        access_policy: RPCAccessPolicyBase | type[RPCAccessPolicyBase] | None = None,
        ping_enabled: bool | None = None,
    ) -> None:
        self.endpoints: list[Any] = endpoints if isinstance(endpoints, list) else list(endpoints)
        has_ping = False
        for endpoint in self.endpoints:
            target = getattr(endpoint, "target", None)
            if target and not isinstance(target, Target):
                raise TypeError(
                    "'target' is a reserved endpoint attribute used for namespace and version "
                    "filtering. It must be of type oslo_messaging.Target. Do not define an "
                    f"endpoint method named 'target': endpoint={endpoint}"
                )
            if getattr(endpoint, PING_METHOD, None):
                has_ping = True
                LOG.warning(
                    "'%s' is a reserved endpoint attribute which can be used to ping the "
                    "endpoint. Please avoid using any oslo_* naming. (endpoint=%s)",
                    PING_METHOD,
                    endpoint,
                )
        if ping_enabled is None:
            ping_enabled = _ping_enabled_in_global_conf()
        if ping_enabled:
            if has_ping:
                LOG.warning(
                    "rpc_ping_enabled=True in config but %s is already declared in another "
                    "endpoint. Not enabling the rpc_ping endpoint.",
                    PING_METHOD,
                )
            else:
                self.endpoints.append(PingEndpoint())
        self.serializer = serializer or NoOpSerializer()
        if access_policy is None:
            access_policy = DefaultRPCAccessPolicy()
        elif isinstance(access_policy, type) and issubclass(access_policy, RPCAccessPolicyBase):
            access_policy = access_policy()
        if not isinstance(access_policy, RPCAccessPolicyBase):
            raise TypeError("access_policy must be a subclass of RPCAccessPolicyBase")
        self.access_policy = access_policy
        self._default_target = Target()

    def dispatch(self, incoming: Any) -> Any:
        """Call the endpoint method ``incoming.message`` names with ``incoming.ctxt`` and
        return its serialized result.

        When ``incoming.client_timeout`` is set (the caller's call monitor) the dispatcher
        calls ``incoming.heartbeat()`` every ``client_timeout / 2`` seconds while the method
        runs. Raises what the method raises, ``NoSuchMethod``, ``UnsupportedVersion`` or
        ``RPCDispatcherError`` for a malformed request.
        """
        func, args = self.select(incoming.message)
        return self._call_watched(incoming, func, args)

    def select(self, message: dict[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The endpoint method a request ``message`` names and its (serialized) arguments:
        the first endpoint serving the message's namespace, at a compatible version, with
        the method allowed by the access policy. Raises ``NoSuchMethod`` (a compatible
        endpoint lacks the method), ``UnsupportedVersion`` (none is compatible) or
        ``RPCDispatcherError`` (a malformed request). The async server uses it too."""
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
        for endpoint in self.endpoints:
            target = getattr(endpoint, "target", None) or self._default_target
            if namespace not in target.accepted_namespaces:
                continue
            if not version_is_compatible(target.version or "1.0", version):
                continue
            found_compatible = True
            func = getattr(endpoint, method, None)
            if callable(func) and self.access_policy.is_allowed(endpoint, method):
                return func, args
        if found_compatible:
            raise NoSuchMethod(method)
        raise UnsupportedVersion(version, method=method)

    def arguments(self, ctxt: Any, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The context and keyword arguments an endpoint method gets, deserialized."""
        serializer = self.serializer
        ctxt = serializer.deserialize_context(ctxt)
        return ctxt, {k: serializer.deserialize_entity(ctxt, v) for k, v in args.items()}

    def result(self, ctxt: Any, result: Any) -> Any:
        """An endpoint method's result, serialized for the reply."""
        return self.serializer.serialize_entity(ctxt, result)

    def _call_watched(self, incoming: Any, func: Callable[..., Any], args: dict[str, Any]) -> Any:
        client_timeout = getattr(incoming, "client_timeout", None)
        watchdog = None
        if isinstance(client_timeout, (int, float)) and client_timeout > 0:
            watchdog = _Watchdog(incoming, client_timeout / 2.0)
        try:
            return self._call(func, incoming.ctxt, args)
        finally:
            if watchdog is not None:
                watchdog.stop()

    def _call(self, func: Callable[..., Any], ctxt: Any, args: dict[str, Any]) -> Any:
        ctxt, kwargs = self.arguments(ctxt, args)
        return self.result(ctxt, func(ctxt, **kwargs))
