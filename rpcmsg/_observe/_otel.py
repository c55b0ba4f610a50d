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

import logging
import threading
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace

from rpcmsg import _observe
from rpcmsg._observe._consumer import ConsumerHooks
from rpcmsg._observe._metrics import Instruments, meter_provider_for_prometheus
from rpcmsg._observe._oslo_socket import SocketSender
from rpcmsg._observe._producer import ProducerHooks

__all__ = ["OTelHooks", "configure_metrics", "install"]

LOG = logging.getLogger(__name__)
_install_lock = threading.Lock()
_instruments: dict[int, tuple[Any, Instruments]] = {}


class OTelHooks(ProducerHooks, ConsumerHooks):
    """:class:`rpcmsg._observe.Hooks` on OpenTelemetry; ``tracer`` or ``instruments`` may
    be None (that signal off)."""


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
            # One set of instruments per meter provider: creating them again would register
            # the in-flight callbacks twice.
            provider = meter_provider or otel_metrics.get_meter_provider()
            key = id(provider)
            if key not in _instruments:
                _instruments[key] = (provider, Instruments(provider, process_name))
            instruments = _instruments[key][1]
            instruments.process = process_name
        _observe.hooks = OTelHooks(tracer, instruments)


_configured: set[tuple[str, int | None]] = set()
#: The process's oslo.metrics sender (one, as oslo.messaging has one collector client).
_sender: SocketSender | None = None


def configure_metrics(group: Any) -> None:
    """``[oslo_messaging_metrics]`` asks for metrics: with ``metrics_prometheus_port``,
    through rpcmsg's Prometheus endpoint, else through the global meter provider unless
    metrics are on already; with ``metrics_enabled``, to oslo.metrics' socket as well."""
    global _sender
    host, port = group.metrics_prometheus_host, group.metrics_prometheus_port
    key = (host, port)
    if key not in _configured:
        _configured.add(key)
        if port:
            provider = meter_provider_for_prometheus(host, port)
            install(meter_provider=provider, process_name=group.metrics_process_name, metrics=True)
        else:
            current = _observe.hooks
            if not (isinstance(current, OTelHooks) and current.m is not None):
                install(process_name=group.metrics_process_name, metrics=True)
    if group.metrics_enabled:
        with _install_lock:
            if _sender is None:
                _sender = SocketSender(
                    group.metrics_socket_file,
                    group.metrics_buffer_size,
                    group.metrics_thread_stop_timeout,
                )
            current = _observe.hooks
            if isinstance(current, OTelHooks) and current.m is not None:
                current.m.send_to(_sender)


_tracing_configured = False


def configure_tracing(group: Any) -> None:
    """``[oslo_messaging_tracing] tracing_enabled``: trace through the process's tracer
    provider; when none is set, set one up exporting to ``otel_exporter_otlp_endpoint`` over
    ``otlp_protocol`` (needs the SDK and that OTLP exporter; without them, a logged error and
    no tracing). Once per process."""
    global _tracing_configured
    with _install_lock:
        if _tracing_configured:
            return
        _tracing_configured = True
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        try:
            provider = _otlp_provider(group)
        except ImportError as exc:
            LOG.error(
                "[oslo_messaging_tracing] tracing_enabled, no tracer provider is set and "
                "rpcmsg cannot set one up (pip install opentelemetry-sdk and the OTLP "
                "exporter for %s): %s",
                group.otlp_protocol,
                exc,
            )
            return
        trace.set_tracer_provider(provider)
    install(tracer_provider=provider, tracing=True)


def _otlp_provider(group: Any) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter: Any
    if group.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=group.otel_exporter_otlp_endpoint, insecure=group.insecure
        )
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPExporter,
        )

        exporter = HTTPExporter(endpoint=group.otel_exporter_otlp_endpoint + "/v1/traces")
    resource = Resource.create({"service.name": group.tracing_service_name})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
