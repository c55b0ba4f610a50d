"""The observability seam: where the core reports what it does, for tracing and metrics.

Nothing here imports OpenTelemetry. The core reads the module global :data:`hooks` at each
call site; while it is ``None`` (the default: no extra installed, nothing enabled) a site
costs one global read and takes the plain path. :func:`rpcmsg.observe.enable_tracing`,
:func:`rpcmsg.observe.enable_metrics`, or a transport whose configuration asks for metrics
(``[oslo_messaging_metrics] metrics_enabled`` or ``metrics_prometheus_port``) install a
:class:`Hooks` (``rpcmsg._observe._otel``), which imports OpenTelemetry then.

Where the core calls the hooks (each wraps the plain step and must call it exactly once,
returning or raising what it does):

- ``Hooks.send``: ``Transport._send`` (calls, casts, fanout casts), on the caller's thread.
- ``Hooks.send_notification``: ``Transport._send_notification``, once per topic.
- ``Hooks.serve``: ``RPCServer._process``, in the worker that took the request, around the
  dispatch; returns ``(result, failure)`` as the dispatch step does.
- ``Hooks.dispatch_notifications``: a notification listener's worker, around the dispatch
  of one message or one batch; returns what the dispatcher returns.
- ``Hooks.asend``, ``asend_notification``, ``aserve``, ``aprocess_notifications``: the same
  steps of :mod:`rpcmsg.asyncio` (its transport's ``_send`` and ``_asend_notification``, its
  RPC server and notification listeners), awaited; spans nest through OpenTelemetry's
  context, which follows the task (and is copied into the pool running plain endpoints).
- ``Hooks.reconnected``: drivers report a lost connection they reconnect through
  :func:`note_reconnect` (re-exported by :mod:`rpcmsg.driver`).

Trace context travels in the message dict under :data:`TRACE_KEY`, a JSON object of W3C
``traceparent``/``tracestate`` (and ``baggage`` when set); oslo.messaging ignores keys it does
not know, and rpcmsg servers remove it before dispatching.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from oslo_config import cfg

from rpcmsg.opts import METRICS_GROUP, TRACING_GROUP, metrics_opts, tracing_opts

if TYPE_CHECKING:
    from rpcmsg.notify.listener import IncomingNotification, NotificationServerBase
    from rpcmsg.rpc.server import RPCIncoming, RPCServer
    from rpcmsg.target import Target
    from rpcmsg.transport import Transport

__all__ = [
    "METRICS_GROUP",
    "TRACE_KEY",
    "Hooks",
    "configure",
    "hooks",
    "metrics_opts",
    "note_reconnect",
]

LOG = logging.getLogger(__name__)

#: The message key carrying the W3C trace context (requests and notifications).
TRACE_KEY = "_trace_context"

# oslo.messaging registers these on the global configuration when imported; so do we.
cfg.CONF.register_opts(metrics_opts, group=METRICS_GROUP)
cfg.CONF.register_opts(tracing_opts, group=TRACING_GROUP)


class Hooks(Protocol):
    """What the core calls when observability is on (see the module docstring)."""

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
    ) -> Any: ...

    def send_notification(
        self,
        plain: Callable[..., None],
        transport: Transport,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        version: float,
        retry: Any,
    ) -> None: ...

    def serve(
        self,
        server: RPCServer,
        request: RPCIncoming,
        carrier: Any,
        dispatch: Callable[[RPCIncoming], tuple[Any, BaseException | None]],
    ) -> tuple[Any, BaseException | None]: ...

    def dispatch_notifications(
        self,
        server: NotificationServerBase,
        incoming: IncomingNotification | Sequence[IncomingNotification],
        dispatch: Callable[[Any], Any],
    ) -> Any: ...

    async def asend(
        self,
        plain: Callable[..., Awaitable[Any]],
        transport: Any,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        wait_for_reply: bool | None,
        timeout: float | None,
        call_monitor_timeout: float | None,
        retry: int | None,
        transport_options: Any,
    ) -> Any: ...

    async def asend_notification(
        self,
        plain: Callable[..., Awaitable[None]],
        transport: Any,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        version: float,
        retry: Any,
    ) -> None: ...

    async def aserve(
        self,
        server: Any,
        message: dict[str, Any],
        call: bool,
        redelivered: bool,
        carrier: Any,
        run: Callable[[], Awaitable[tuple[Any, BaseException | None]]],
    ) -> tuple[Any, BaseException | None]: ...

    async def aprocess_notifications(
        self,
        server: Any,
        messages: list[dict[str, Any]],
        redelivered: list[bool],
        batch: bool,
        run: Callable[[], Awaitable[int]],
    ) -> None: ...

    def reconnected(self, driver: str) -> None: ...


#: The installed hooks, or None: observability off (the core's fast path).
hooks: Hooks | None = None


def note_reconnect(driver: str) -> None:
    """Called by a driver when it lost a connection and reconnects (``driver``: its name,
    e.g. ``rabbit``); counted in ``rpcmsg.reconnects``. Never raises."""
    current = hooks
    if current is not None:
        try:
            current.reconnected(driver)
        except Exception:  # observability must never break a driver
            LOG.exception("Failed to record a reconnection")


def configure(conf: cfg.ConfigOpts) -> None:
    """Apply ``conf``'s ``[oslo_messaging_metrics]`` and ``[oslo_messaging_tracing]``
    (called when a transport is built).

    With neither ``metrics_enabled``, ``metrics_prometheus_port`` nor ``tracing_enabled``
    set this does nothing and imports nothing. Otherwise it turns metrics on (once per
    process), starts the Prometheus endpoint on that port (once per port), with
    ``metrics_enabled`` sends oslo.messaging's RPC metrics to the oslo.metrics collector
    socket as oslo.messaging does (:mod:`rpcmsg._observe._oslo_socket`), and turns
    tracing on: through the process's tracer provider, or, when none is set, one rpcmsg
    sets up exporting over OTLP as oslo.messaging does. When an extra is missing it logs
    an error and the transport works without.
    """
    conf.register_opts(metrics_opts, group=METRICS_GROUP)
    conf.register_opts(tracing_opts, group=TRACING_GROUP)
    tracing = conf[TRACING_GROUP]
    if tracing.tracing_enabled:
        try:
            from rpcmsg._observe import _otel
        except ImportError as exc:
            LOG.error(
                "[%s] tracing_enabled but OpenTelemetry is not installed "
                "(pip install 'rpcmsg[otel]'): %s",
                TRACING_GROUP,
                exc,
            )
        else:
            _otel.configure_tracing(tracing)
    group = conf[METRICS_GROUP]
    port = group.metrics_prometheus_port
    if not group.metrics_enabled and not port:
        return
    try:
        from rpcmsg._observe import _otel
    except ImportError as exc:
        LOG.error(
            "[%s] asks for metrics but OpenTelemetry is not installed "
            "(pip install 'rpcmsg[otel]'; for the Prometheus endpoint 'rpcmsg[prometheus]'): %s",
            METRICS_GROUP,
            exc,
        )
        return
    _otel.configure_metrics(group)
