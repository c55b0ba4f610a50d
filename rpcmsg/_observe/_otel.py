"""The hooks that record OpenTelemetry spans and metrics (imported only when enabled).

Spans (OpenTelemetry's messaging and RPC conventions)::

    call            CLIENT    "<topic>/<method>"    caller, until the result or the error
    cast, fanout    PRODUCER  "send <topic>"        until the driver took the message
    notification    PRODUCER  "send <topic>.<priority>"
    call handled    SERVER    "<topic>/<method>"    child of the caller's span
    cast handled    CONSUMER  "process <topic>"     child of the sender's span
    notification    CONSUMER  "process <topic>.<priority>"  child of the sender's span; a
      batch                                         batch's span links to every sender's

Attributes: ``messaging.system`` (``rabbitmq``, ``redis``, or the driver's name),
``messaging.operation.name`` and ``messaging.operation.type`` (``send``, ``process``),
``messaging.destination.name`` (``<topic>`` or ``<topic>.<server>``; reply queues never
appear), ``messaging.message.id`` (notifications), ``rpc.system`` and ``rpc.system.name``
(``oslo.messaging``), ``rpc.service`` (the topic), ``rpc.method``, ``rpcmsg.call_type``
(``call``, ``cast``, ``fanout``), and on failure ``error.type`` (the exception's class name)
with an error status. The handling spans are current while endpoints run, so their own spans
nest under them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from rpcmsg import _observe
from rpcmsg._observe._metrics import Instruments, meter_provider_for_prometheus
from rpcmsg.exceptions import MessagingTimeout, RemoteError

if TYPE_CHECKING:
    from rpcmsg.notify.listener import IncomingNotification, NotificationServerBase
    from rpcmsg.rpc.server import RPCIncoming, RPCServer
    from rpcmsg.target import Target
    from rpcmsg.transport import Transport

__all__ = ["OTelHooks", "configure_metrics", "install"]

TRACE_KEY = _observe.TRACE_KEY
RPC_SYSTEM = "oslo.messaging"

_SYSTEMS = {"rabbit": "rabbitmq", "amqp": "rabbitmq", "kombu": "rabbitmq", "rediss": "redis"}
_install_lock = threading.Lock()


def _system(transport: Transport) -> str:
    name = str(transport.url.transport or "")
    if name.startswith("redis"):
        return "redis"
    return _SYSTEMS.get(name, name)


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, MessagingTimeout):
        return "timeout"
    if isinstance(exc, RemoteError) or hasattr(exc, "_remote_message"):
        return "remote_error"  # rebuilt from a reply's failure (rpcmsg._remote)
    return "error"


def _fail(span: Any, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def _endpoint_of(server: RPCServer, message: dict[str, Any]) -> str | None:
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


class OTelHooks:
    """:class:`rpcmsg._observe.Hooks` on OpenTelemetry; ``tracer`` or ``instruments`` may
    be None (that signal off)."""

    def __init__(self, tracer: Any, instruments: Instruments | None) -> None:
        self.tracer = tracer
        self.m = instruments

    # -- producer side -----------------------------------------------------------------

    def send(
        self,
        plain: Callable[..., Any],
        transport: Transport,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        wait_for_reply: bool | None,
        timeout: float | None,
        call_monitor_timeout: float | None,
        retry: int | None,
        transport_options: Any,
    ) -> Any:
        call = bool(wait_for_reply)
        call_type = "call" if call else "fanout" if target.fanout else "cast"
        method = message.get("method")
        topic = target.topic or ""
        span = None
        if self.tracer is not None:
            destination = f"{topic}.{target.server}" if target.server else topic
            span = self.tracer.start_span(
                f"{topic}/{method}" if call else f"send {topic}",
                kind=SpanKind.CLIENT if call else SpanKind.PRODUCER,
                attributes={
                    "messaging.system": _system(transport),
                    "messaging.operation.name": "send",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": destination,
                    "rpc.system": RPC_SYSTEM,
                    "rpc.system.name": RPC_SYSTEM,
                    "rpc.service": topic,
                    "rpc.method": str(method),
                    "rpcmsg.call_type": call_type,
                },
            )
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            message = {**message, TRACE_KEY: carrier}
        m = self.m
        labels: dict[str, str] = {}
        oslo: dict[str, str] = {}
        if m is not None:
            labels = {
                "call_type": call_type,
                "topic": topic,
                "server": str(target.server or ""),
                "method": str(method),
            }
            oslo = {
                "call_type": "call" if call else "cast",
                "exchange": str(target.exchange),
                "topic": str(target.topic),
                "namespace": str(target.namespace),
                "version": str(target.version),
                "server": str(target.server),
                "fanout": str(target.fanout),
                "process": m.process,
                "method": str(method),
                "timeout": str(timeout),
            }
            m.oslo_client_start.add(1, oslo)
            m.client_in_flight.add(1, {"call_type": call_type, "topic": topic})
        started = time.perf_counter()
        try:
            result = plain(
                transport,
                target,
                ctxt,
                message,
                wait_for_reply,
                timeout,
                call_monitor_timeout,
                retry,
                transport_options,
            )
        except BaseException as exc:
            if m is not None:
                elapsed = time.perf_counter() - started
                m.client_in_flight.add(-1, {"call_type": call_type, "topic": topic})
                m.oslo_client_exception.add(1, {**oslo, "exception": type(exc).__name__})
                labels["outcome"] = _outcome(exc)
                m.client_requests.add(1, labels)
                m.client_duration.record(elapsed, labels)
            if span is not None:
                _fail(span, exc)
                span.end()
            raise
        if m is not None:
            elapsed = time.perf_counter() - started
            m.client_in_flight.add(-1, {"call_type": call_type, "topic": topic})
            m.oslo_client_seconds.record(elapsed, oslo)
            m.oslo_client_end.add(1, oslo)
            labels["outcome"] = "ok"
            m.client_requests.add(1, labels)
            m.client_duration.record(elapsed, labels)
        if span is not None:
            span.end()
        return result

    def send_notification(
        self,
        plain: Callable[..., None],
        transport: Transport,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        version: float,
        retry: Any,
    ) -> None:
        topic = target.topic or ""
        span = None
        if self.tracer is not None:
            attributes = {
                "messaging.system": _system(transport),
                "messaging.operation.name": "send",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
            }
            if isinstance(message.get("message_id"), str):
                attributes["messaging.message.id"] = message["message_id"]
            span = self.tracer.start_span(
                f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
            )
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            message = {**message, TRACE_KEY: carrier}
        outcome = "ok"
        try:
            plain(transport, target, ctxt, message, version, retry)
        except BaseException as exc:
            outcome = "error"
            if span is not None:
                _fail(span, exc)
            raise
        finally:
            if self.m is not None:
                self.m.notifications_sent.add(1, {"topic": topic, "outcome": outcome})
            if span is not None:
                span.end()

    # -- consumer side -----------------------------------------------------------------

    def serve(
        self,
        server: RPCServer,
        request: RPCIncoming,
        carrier: Any,
        dispatch: Callable[[RPCIncoming], tuple[Any, BaseException | None]],
    ) -> tuple[Any, BaseException | None]:
        target = server.target
        topic = target.topic or ""
        message = request.message
        method = message.get("method")
        call = request.is_call
        call_type = "call" if call else "cast"
        span = token = None
        if self.tracer is not None:
            parent = propagate.extract(carrier if isinstance(carrier, dict) else {})
            span = self.tracer.start_span(
                f"{topic}/{method}" if call else f"process {topic}",
                context=parent,
                kind=SpanKind.SERVER if call else SpanKind.CONSUMER,
                attributes={
                    "messaging.system": _system(server.transport),
                    "messaging.operation.name": "process",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": topic,
                    "rpc.system": RPC_SYSTEM,
                    "rpc.system.name": RPC_SYSTEM,
                    "rpc.service": topic,
                    "rpc.method": str(method),
                    "rpcmsg.call_type": call_type,
                },
            )
            token = context.attach(trace.set_span_in_context(span))
        m = self.m
        where = {"topic": topic, "server": str(target.server or "")}
        oslo: dict[str, str] | None = None
        if m is not None:
            if request._raw.redelivered:
                m.redeliveries.add(1, {"kind": "rpc", "topic": topic})
            endpoint = _endpoint_of(server, message)
            if endpoint is not None:  # as oslo.metrics: a request for no method is not one
                oslo = {
                    "exchange": str(target.exchange),
                    "topic": str(target.topic),
                    "server": str(target.server),
                    "endpoint": endpoint,
                    "namespace": str(message.get("namespace")),
                    "version": str(message.get("version")),
                    "method": str(method),
                    "process": m.process,
                }
                m.oslo_server_start.add(1, oslo)
            m.server_in_flight.add(1, where)
        started = time.perf_counter()
        try:
            result, failure = dispatch(request)
        finally:
            if token is not None:
                context.detach(token)
        elapsed = time.perf_counter() - started
        if m is not None:
            m.server_in_flight.add(-1, where)
            labels = {**where, "call_type": call_type, "method": str(method)}
            labels["outcome"] = "ok" if failure is None else "error"
            m.server_requests.add(1, labels)
            m.server_duration.record(elapsed, labels)
            if oslo is not None:
                if failure is None:
                    m.oslo_server_seconds.record(elapsed, oslo)
                    m.oslo_server_end.add(1, oslo)
                else:
                    m.oslo_server_exception.add(1, {**oslo, "exception": type(failure).__name__})
        if span is not None:
            if failure is not None:
                _fail(span, failure)
            span.end()
        return result, failure

    def dispatch_notifications(
        self,
        server: NotificationServerBase,
        incoming: IncomingNotification | Sequence[IncomingNotification],
        dispatch: Callable[[Any], Any],
    ) -> Any:
        batch = list(incoming) if isinstance(incoming, (list, tuple)) else None
        messages: list[IncomingNotification] = batch if batch is not None else [incoming]  # type: ignore[list-item]
        carriers = [m.message.pop(TRACE_KEY, None) for m in messages]
        priority = str(messages[0].message.get("priority", "")).lower() if messages else ""
        topics = sorted({str(t.topic) for t in server.targets})
        topic = f"{topics[0] if len(topics) == 1 else '*'}.{priority}"
        span = token = None
        if self.tracer is not None:
            attributes: dict[str, Any] = {
                "messaging.system": _system(server.transport),
                "messaging.operation.name": "process",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
            }
            parent = None
            links = []
            if batch is None:
                parent = propagate.extract(carriers[0] if isinstance(carriers[0], dict) else {})
                message_id = messages[0].message.get("message_id")
                if isinstance(message_id, str):
                    attributes["messaging.message.id"] = message_id
            else:
                attributes["messaging.batch.message_count"] = len(messages)
                for carrier in carriers:
                    if isinstance(carrier, dict):
                        sc = trace.get_current_span(propagate.extract(carrier)).get_span_context()
                        if sc.is_valid:
                            links.append(Link(sc))
                parent = context.Context()
            span = self.tracer.start_span(
                f"process {topic}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )
            token = context.attach(trace.set_span_in_context(span))
        m = self.m
        if m is not None:
            for message in messages:
                if message._raw.redelivered:
                    m.redeliveries.add(1, {"kind": "notification", "topic": topic})
        try:
            result = dispatch(incoming)
        except BaseException as exc:
            if m is not None:
                m.notifications_handled.add(len(messages), {"topic": topic, "outcome": "error"})
            if span is not None:
                _fail(span, exc)
            raise
        else:
            from rpcmsg.notify.dispatcher import NotificationResult

            requeued = (
                len(result or ())
                if batch is not None
                else int(result == NotificationResult.REQUEUE)
            )
            if m is not None:
                if requeued:
                    m.notifications_handled.add(requeued, {"topic": topic, "outcome": "requeue"})
                if len(messages) - requeued:
                    m.notifications_handled.add(
                        len(messages) - requeued, {"topic": topic, "outcome": "ok"}
                    )
            return result
        finally:
            if token is not None:
                context.detach(token)
            if span is not None:
                span.end()

    def reconnected(self, driver: str) -> None:
        if self.m is not None:
            self.m.reconnects.add(1, {"driver": driver})


def install(
    *,
    tracer_provider: Any = None,
    tracing: bool = False,
    meter_provider: Any = None,
    process_name: str = "",
    metrics: bool = False,
) -> None:
    """Turn tracing and/or metrics on, keeping what is on already."""
    with _install_lock:
        current = _observe.hooks
        tracer = current.tracer if isinstance(current, OTelHooks) else None
        instruments = current.m if isinstance(current, OTelHooks) else None
        if tracing:
            provider = tracer_provider or trace.get_tracer_provider()
            tracer = provider.get_tracer("rpcmsg")
        if metrics:
            instruments = Instruments(meter_provider, process_name)
        _observe.hooks = OTelHooks(tracer, instruments)


_configured: set[tuple[str, int | None]] = set()


def configure_metrics(process_name: str, port: int | None, host: str) -> None:
    """``[oslo_messaging_metrics]`` asks for metrics: with ``port``, through rpcmsg's
    Prometheus endpoint; else through the global meter provider unless metrics are on."""
    key = (host, port)
    if key in _configured:
        return
    _configured.add(key)
    if port:
        provider = meter_provider_for_prometheus(host, port)
        install(meter_provider=provider, process_name=process_name, metrics=True)
        return
    current = _observe.hooks
    if not (isinstance(current, OTelHooks) and current.m is not None):
        install(process_name=process_name, metrics=True)
