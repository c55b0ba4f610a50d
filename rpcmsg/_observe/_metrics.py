"""rpcmsg's metrics on the OpenTelemetry metrics API, and the Prometheus endpoint.

Two families. oslo.metrics' RPC metrics, with its names and labels, so that dashboards built
on oslo.messaging keep working (Prometheus names shown)::

    oslo_messaging_rpc_client_invocation_start_total  counter    call_type exchange topic
    oslo_messaging_rpc_client_invocation_end_total    counter      namespace version server
    oslo_messaging_rpc_client_processing_seconds      histogram    fanout process method timeout
    oslo_messaging_rpc_client_exception_total         counter    (+ exception)
    oslo_messaging_rpc_server_invocation_start_total  counter    exchange topic server
    oslo_messaging_rpc_server_invocation_end_total    counter      endpoint namespace version
    oslo_messaging_rpc_server_processing_seconds      histogram    method process
    oslo_messaging_rpc_server_exception_total         counter    (+ exception)

(label values as oslo.metrics renders them: ``str()`` of the value, ``None`` included), and
rpcmsg's own, per topic, server, method and outcome::

    rpcmsg.client.requests / .duration (s)   call_type topic server method outcome
    rpcmsg.client.in_flight                  call_type topic          (calls and sends now)
    rpcmsg.server.requests / .duration (s)   call_type topic server method outcome
    rpcmsg.server.in_flight                  topic server             (requests being handled)
    rpcmsg.notifications.sent                topic outcome            (topic.priority)
    rpcmsg.notifications.handled             topic outcome
    rpcmsg.redeliveries                      kind topic               (rpc, notification)
    rpcmsg.reconnects                        driver

The in-flight counts are observable up-down counters, read at collection. Client outcomes:
``ok``, ``timeout`` (``MessagingTimeout``), ``remote_error`` (the server's exception),
``error`` (failed locally: sending, encoding). Server: ``ok``, ``error``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Observation

from rpcmsg._observe._oslo_socket import SocketSender, Tee

__all__ = ["InFlight", "Instruments", "meter_provider_for_prometheus"]

LOG = logging.getLogger(__name__)

#: oslo.metrics' ``rpc_processing_seconds_buckets``.
OSLO_BUCKETS = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0,
    75.0, 100.0,
]  # fmt: skip

#: The instruments of oslo.metrics' RPC metrics (sent to its socket with metrics_enabled):
#: attribute of :class:`Instruments` -> metric name.
OSLO_INSTRUMENTS = {
    f"oslo_{side}_{short}": f"oslo_messaging_rpc_{side}_{name}"
    for side in ("client", "server")
    for short, name in (
        ("start", "invocation_start_total"),
        ("end", "invocation_end_total"),
        ("seconds", "processing_seconds"),
        ("exception", "exception_total"),
    )
}

_prometheus_lock = threading.Lock()
_prometheus_provider: Any = None
_prometheus_ports: set[tuple[str, int]] = set()


def _histogram(meter: Any, name: str, description: str) -> Any:
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=OSLO_BUCKETS
    )


class InFlight:
    """A count of work under way per label values, read by the meter at collection (an
    observable up-down counter: no measurement per call, one dict update under a lock)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = keys
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], int] = {}

    def add(self, delta: int, *values: str) -> None:
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + delta

    def observe(self, options: Any) -> list[Any]:
        with self._lock:
            counts = list(self._counts.items())
        return [Observation(n, dict(zip(self._keys, values, strict=True))) for values, n in counts]


class Instruments:
    """Every instrument, created once per meter provider."""

    def __init__(self, provider: Any, process_name: str) -> None:
        meter = (provider or metrics.get_meter_provider()).get_meter("rpcmsg")
        self.process = process_name
        c = meter.create_counter
        start, end = "Total number of RPC invocation start.", "Total number of RPC invocation end."
        seconds = "Duration of RPC processing."
        failed = "Total number of exception while RPC processing."
        p = "oslo_messaging_rpc_"
        self.oslo_client_start = c(p + "client_invocation_start_total", description=start)
        self.oslo_client_end = c(p + "client_invocation_end_total", description=end)
        self.oslo_client_seconds = _histogram(meter, p + "client_processing_seconds", seconds)
        self.oslo_client_exception = c(p + "client_exception_total", description=failed)
        self.oslo_server_start = c(p + "server_invocation_start_total", description=start)
        self.oslo_server_end = c(p + "server_invocation_end_total", description=end)
        self.oslo_server_seconds = _histogram(meter, p + "server_processing_seconds", seconds)
        self.oslo_server_exception = c(p + "server_exception_total", description=failed)
        self.client_requests = c(
            "rpcmsg.client.requests", description="Calls, casts and fanout casts sent."
        )
        self.client_duration = _histogram(
            meter, "rpcmsg.client.duration", "Time to send a cast, or to get a call's result."
        )
        self.client_in_flight = InFlight(("call_type", "topic"))
        meter.create_observable_up_down_counter(
            "rpcmsg.client.in_flight",
            callbacks=[self.client_in_flight.observe],
            description="Calls waiting for a result, sends under way.",
        )
        self.server_requests = c("rpcmsg.server.requests", description="Requests handled.")
        self.server_duration = _histogram(
            meter, "rpcmsg.server.duration", "Time to handle a request."
        )
        self.server_in_flight = InFlight(("topic", "server"))
        meter.create_observable_up_down_counter(
            "rpcmsg.server.in_flight",
            callbacks=[self.server_in_flight.observe],
            description="Requests being handled.",
        )
        self.notifications_sent = c("rpcmsg.notifications.sent", description="Notifications sent.")
        self.notifications_handled = c(
            "rpcmsg.notifications.handled", description="Notifications handled by listeners."
        )
        self.redeliveries = c(
            "rpcmsg.redeliveries", description="Messages the broker delivered again."
        )
        self.reconnects = c(
            "rpcmsg.reconnects", description="Connections a driver lost and opens again."
        )
        self.sender: SocketSender | None = None

    def send_to(self, sender: SocketSender) -> None:
        """Send oslo.metrics' RPC metrics to its collector socket too (once per set)."""
        if self.sender is not None:
            return
        self.sender = sender
        for attribute, name in OSLO_INSTRUMENTS.items():
            setattr(self, attribute, Tee(getattr(self, attribute), name, sender))


def meter_provider_for_prometheus(host: str, port: int) -> Any:
    """The meter provider behind rpcmsg's Prometheus endpoints (one per process), serving
    ``http://host:port/metrics``; each (host, port) is started once."""
    global _prometheus_provider
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    with _prometheus_lock:
        if _prometheus_provider is None:
            _prometheus_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
        if (host, port) not in _prometheus_ports:
            start_http_server(port, addr=host)
            _prometheus_ports.add((host, port))
            LOG.info("Serving metrics for Prometheus on http://%s:%d/metrics", host, port)
        return _prometheus_provider
