"""What the producer and consumer hooks share: names, span states, error marks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import context, trace
from opentelemetry.trace import Status, StatusCode

from rpcmsg import _observe
from rpcmsg.exceptions import MessagingTimeout, RemoteError

if TYPE_CHECKING:
    from rpcmsg._observe._metrics import Instruments
    from rpcmsg.rpc.server import RPCServer

__all__ = ["RPC_SYSTEM", "TRACE_KEY", "Handling", "Hooked", "Sending", "context_carrier"]

TRACE_KEY = _observe.TRACE_KEY
RPC_SYSTEM = "oslo.messaging"

_SYSTEMS = {"rabbit": "rabbitmq", "amqp": "rabbitmq", "kombu": "rabbitmq", "rediss": "redis"}


def system_of(transport: Any) -> str:
    name = str(transport.url.transport or "")
    if name.startswith("redis"):
        return "redis"
    return _SYSTEMS.get(name, name)


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, MessagingTimeout):
        return "timeout"
    if isinstance(exc, RemoteError) or hasattr(exc, "_remote_message"):
        return "remote_error"  # rebuilt from a reply's failure (rpcmsg._remote)
    return "error"


def mark_failed(span: Any, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def endpoint_of(server: RPCServer, message: dict[str, Any]) -> str | None:
    """The class name of the endpoint the dispatcher picks for ``message`` (None if none),
    found as :meth:`RPCDispatcher.dispatch` finds it."""
    from rpcmsg.rpc.dispatcher import version_is_compatible
    from rpcmsg.target import Target

    dispatcher = server.dispatcher
    method = message.get("method")
    namespace = message.get("namespace")
    version = message.get("version") or "1.0"
    policy = getattr(dispatcher, "access_policy", None)
    if not isinstance(method, str) or not isinstance(version, str):
        return None
    for endpoint in getattr(dispatcher, "endpoints", ()):
        target = getattr(endpoint, "target", None) or Target()
        try:
            if namespace not in target.accepted_namespaces:
                continue
            if not version_is_compatible(target.version or "1.0", version):
                continue
        except (AttributeError, TypeError, ValueError):
            continue
        func = getattr(endpoint, method, None)
        if callable(func) and (policy is None or policy.is_allowed(endpoint, method)):
            return type(endpoint).__name__
    return None


def context_carrier(values: dict[str, Any], prefix: str) -> dict[str, str]:
    """The W3C fields oslo.messaging's own tracing puts in the request context (on the wire
    ``_context_traceparent``, ``_context_tracestate``): a request from a traced oslo.messaging
    client has no rpcmsg trace field, and its handling span is then the child of these."""
    carrier = {}
    for key in ("traceparent", "tracestate"):
        value = values.get(prefix + key)
        if isinstance(value, str):
            carrier[key] = value
    return carrier


class Sending:
    """One send's span and labels, between :meth:`ProducerHooks._send_start` and its end."""

    __slots__ = ("call_type", "labels", "oslo", "span", "started", "topic")

    def __init__(self, span: Any, call_type: str, topic: str) -> None:
        self.span = span
        self.call_type = call_type
        self.topic = topic
        self.labels: dict[str, str] = {}
        self.oslo: dict[str, str] = {}
        self.started = time.perf_counter()


class Handling:
    """One request's (or notification batch's) span, context token and labels."""

    __slots__ = ("count", "labels", "oslo", "span", "started", "token", "topic")

    def __init__(self, span: Any, topic: str) -> None:
        self.span = span
        self.token = context.attach(trace.set_span_in_context(span)) if span else None
        self.topic = topic
        self.labels: dict[str, str] = {}
        self.oslo: dict[str, str] | None = None
        self.count = 1
        self.started = time.perf_counter()


class Hooked:
    """The signals on: ``tracer`` and ``m`` (the instruments), either None when off."""

    def __init__(self, tracer: Any, instruments: Instruments | None) -> None:
        self.tracer = tracer
        self.m = instruments
