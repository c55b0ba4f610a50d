"""Tracing and metrics with OpenTelemetry (the optional extras ``otel`` and ``prometheus``).

Off by default, and then free: rpcmsg does not import OpenTelemetry at all. Turn it on::

    from rpcmsg import observe
    observe.enable_tracing()          # spans through the global tracer provider
    observe.enable_metrics()          # metrics through the global meter provider

or in the configuration, for metrics: ``[oslo_messaging_metrics] metrics_enabled = true``
(the process's meter provider) or ``metrics_prometheus_port = 9464`` (rpcmsg serves
``/metrics`` itself). The spans, attributes, metric names and the trace field on the wire
are described in the README ("Tracing and metrics") and ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

from typing import Any

from rpcmsg import _observe

__all__ = ["disable", "enable_metrics", "enable_tracing"]


def enable_tracing(tracer_provider: Any = None) -> None:
    """Record spans for calls, casts, notifications and their handling, and carry the
    trace context in each message; ``tracer_provider`` defaults to OpenTelemetry's global
    one. Raises ``ImportError`` without ``opentelemetry-api`` (``pip install
    'rpcmsg[otel]'``)."""
    from rpcmsg._observe import _otel

    _otel.install(tracer_provider=tracer_provider, tracing=True)


def enable_metrics(meter_provider: Any = None, process_name: str = "") -> None:
    """Record metrics (see the README) through ``meter_provider`` (default: OpenTelemetry's
    global one); ``process_name`` is the ``process`` label of the ``oslo_messaging_*``
    metrics. Raises ``ImportError`` without ``opentelemetry-api``."""
    from rpcmsg._observe import _otel

    _otel.install(meter_provider=meter_provider, process_name=process_name, metrics=True)


def disable() -> None:
    """Stop recording spans and metrics (a Prometheus endpoint already started stays up,
    serving what was recorded)."""
    _observe.hooks = None
