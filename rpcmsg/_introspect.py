"""Introspection of a running RPC server, written once for the sync and the async servers.

With ``rpc_introspection_enabled = true`` (rpcmsg only; default off) a server adds an
endpoint answering :data:`INTROSPECT_METHOD`, as ``rpc_ping_enabled`` adds the ping one.
The answer is a JSON object::

    {"topic", "server", "exchange", "host", "pid", "rpcmsg_version",
     "started_at" (Unix time), "uptime" (seconds),
     "executor": {"type", "max_workers", "workers", "busy"},
     "calls": {"handled", "failed"},
     "endpoints": [{"name", "namespace", "version", "doc",
                    "methods": [{"name", "signature", "params", "doc", "async"}]}]}

The ping and introspection endpoints are not listed. ``calls`` counts the requests this
server dispatched before the answer (calls and casts, earlier introspection requests
included) and those whose method raised or could not be dispatched. Each entry of
``params`` is ``{"name", "kind", "required", "annotation"}`` (the annotation as written, or
null), the context parameter left out.

Called with ``reply_to={"exchange", "topic", "server", "fanout"}`` the endpoint casts the
same object as ``report(server=...)`` to that target and returns nothing: ``rpcmsg status``
sends one fanout request and collects the casts of every server that answers.

This module has no I/O; :class:`IntrospectionEndpoint` (sync) and
``rpcmsg.asyncio._introspect.AsyncIntrospectionEndpoint`` differ only in how they cast.
"""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from rpcmsg.target import Target

__all__ = [
    "INTROSPECT_METHOD",
    "REPORT_METHOD",
    "CallStats",
    "IntrospectionEndpoint",
    "describe_endpoint",
    "describe_method",
    "install",
    "reply_target",
    "server_description",
]

LOG = logging.getLogger(__name__)

#: The method a server with ``rpc_introspection_enabled`` answers.
INTROSPECT_METHOD = "rpcmsg_introspect"
#: The method ``reply_to`` targets are cast: ``report(ctxt, server=<description>)``.
REPORT_METHOD = "report"

_CONTEXT_NAMES = ("ctxt", "context", "ctx")


class CallStats:
    """Counts of handled and failed requests, and when the server was built.

    ``record`` is called once per dispatched request from any worker thread (or the loop).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.handled = 0
        self.failed = 0
        self.started_at = time.time()
        self._started = time.monotonic()

    def record(self, failed: bool) -> None:
        with self._lock:
            self.handled += 1
            if failed:
                self.failed += 1

    def uptime(self) -> float:
        return time.monotonic() - self._started


class _Shown(str):
    """An annotation shown as written (``int``, not ``'int'``) in a signature."""

    def __repr__(self) -> str:
        return str(self)


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, str):
        return value
    return getattr(value, "__name__", None) or repr(value)


def describe_method(name: str, func: Callable[..., Any]) -> dict[str, Any]:
    """One endpoint method: its name, signature without the context, parameters, doc."""
    doc = inspect.getdoc(func)
    is_async = bool(getattr(func, "rpcmsg_async", inspect.iscoroutinefunction(func)))
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature
        return {"name": name, "signature": "(...)", "params": [], "doc": doc, "async": is_async}
    params = list(sig.parameters.values())
    if params and params[0].name in _CONTEXT_NAMES:
        params = params[1:]
    described = [
        {
            "name": p.name,
            "kind": p.kind.name.lower(),
            "required": p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
            "annotation": _annotation(p.annotation),
        }
        for p in params
    ]
    empty = inspect.Parameter.empty

    def shown_annotation(value: Any) -> Any:
        text = _annotation(value)
        return empty if text is None else _Shown(text)

    shown = sig.replace(
        parameters=[p.replace(annotation=shown_annotation(p.annotation)) for p in params],
        return_annotation=shown_annotation(sig.return_annotation),
    )
    return {
        "name": name,
        "signature": str(shown),
        "params": described,
        "doc": doc,
        "async": is_async,
    }


def describe_endpoint(endpoint: Any, is_allowed: Callable[[Any, str], bool]) -> dict[str, Any]:
    """One endpoint: its class name, namespace, version, docstring and the methods that
    ``is_allowed`` (the access policy) lets remote clients call; never dunder methods."""
    target = getattr(endpoint, "target", None)
    if not isinstance(target, Target):
        target = Target()
    methods = []
    for name in sorted(dir(endpoint)):
        if name.startswith("__") or name == "target" or not is_allowed(endpoint, name):
            continue
        try:
            func = getattr(endpoint, name)
        except Exception:  # a property that raises is not a method
            continue
        if callable(func) and not inspect.isclass(func):
            methods.append(describe_method(name, func))
    return {
        "name": getattr(endpoint, "rpcmsg_name", None) or type(endpoint).__name__,
        "namespace": target.namespace,
        "version": target.version or "1.0",
        "doc": inspect.getdoc(endpoint) if not inspect.ismodule(endpoint) else None,
        "methods": methods,
    }


def server_description(
    server: Any, stats: CallStats | None, executor: dict[str, Any], endpoints: Iterable[Any]
) -> dict[str, Any]:
    """The whole answer (see the module docstring) for ``server`` (sync or async)."""
    if stats is None:  # a subclass called the endpoint itself: count from now on
        stats = server._stats = CallStats()
    from rpcmsg import __version__

    target: Target = server.target
    policy = server.dispatcher.access_policy
    with stats._lock:
        handled, failed = stats.handled, stats.failed
    return {
        "topic": target.topic,
        "server": target.server,
        "exchange": target.exchange or server.conf.control_exchange,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "rpcmsg_version": __version__,
        "started_at": stats.started_at,
        "uptime": round(stats.uptime(), 3),
        "executor": executor,
        "calls": {"handled": handled, "failed": failed},
        "endpoints": [
            describe_endpoint(e, policy.is_allowed)
            for e in endpoints
            if not getattr(e, "rpcmsg_internal", False)
        ],
    }


def reply_target(reply_to: Any) -> Target:
    """The target a ``reply_to`` argument names (``exchange``, ``topic``, ``server``,
    ``fanout``); ``ValueError`` when it is malformed."""
    if not isinstance(reply_to, dict) or not isinstance(reply_to.get("topic"), str):
        raise ValueError("reply_to must be an object with a topic")
    fields = {k: reply_to.get(k) for k in ("exchange", "topic", "server")}
    if not all(v is None or isinstance(v, str) for v in fields.values()):
        raise ValueError("reply_to's exchange, topic and server must be strings")
    return Target(**fields, fanout=bool(reply_to.get("fanout")))


class IntrospectionEndpoint:
    """Answers :data:`INTROSPECT_METHOD` for a sync server (see the module docstring)."""

    rpcmsg_internal = True

    def __init__(self, server: Any) -> None:
        self._server = server

    def rpcmsg_introspect(self, ctxt: Any, reply_to: Any = None) -> dict[str, Any] | None:
        description = self._server._describe()
        if reply_to is None:
            return description  # type: ignore[no-any-return]
        from rpcmsg.rpc.client import get_rpc_client

        client = get_rpc_client(self._server.transport, reply_target(reply_to))
        client.cast({}, REPORT_METHOD, server=description)
        return None


def install(server: Any, endpoint_cls: type[Any]) -> CallStats | None:
    """Add ``endpoint_cls(server)`` to the server's endpoints when the server's
    configuration sets ``rpc_introspection_enabled`` and no endpoint has the method; returns
    the :class:`CallStats` the server then keeps, or None (nothing is counted: no cost)."""
    if not server.conf.rpc_introspection_enabled:
        return None
    endpoints = server.dispatcher.endpoints
    if any(getattr(e, INTROSPECT_METHOD, None) for e in endpoints):
        LOG.warning(
            "rpc_introspection_enabled=True but an endpoint already has %s: not adding the "
            "introspection endpoint",
            INTROSPECT_METHOD,
        )
        return None
    endpoints.append(endpoint_cls(server))
    return CallStats()
