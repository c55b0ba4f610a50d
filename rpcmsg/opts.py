"""Every configuration option rpcmsg reads, defined once, with oslo.messaging's names.

``list_opts()`` is the ``oslo.config.opts`` entry point used by ``oslo-config-generator``. The
core's options live here; each driver declares its own group on its driver class
(``option_group`` and ``options``) and is reached through the ``rpcmsg.drivers`` entry points,
so a third-party driver's options show up in the sample config like ours.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from oslo_config import cfg

__all__ = [
    "METRICS_GROUP",
    "NOTIFICATIONS_GROUP",
    "TRACING_GROUP",
    "base_opts",
    "driver_opts",
    "list_opts",
    "metrics_opts",
    "notification_opts",
    "register_opts",
    "set_defaults",
    "tracing_opts",
]

NOTIFICATIONS_GROUP = "oslo_messaging_notifications"
METRICS_GROUP = "oslo_messaging_metrics"

#: oslo.messaging 18.3.1's ``[oslo_messaging_metrics]`` options (same names, types and
#: defaults), then rpcmsg's Prometheus endpoint.
metrics_opts: list[cfg.Opt] = [
    cfg.BoolOpt(
        "metrics_enabled",
        default=False,
        help="Send RPC metrics to the oslo.metrics collector over metrics_socket_file, as "
        "oslo.messaging does, and record them (with rpcmsg's own metrics) through the "
        "OpenTelemetry metrics API (the process's meter provider). Needs rpcmsg[otel].",
    ),
    cfg.IntOpt(
        "metrics_buffer_size",
        default=1000,
        help="How many measurements may wait to be sent to oslo.metrics; beyond that they "
        "are dropped (logged), never blocking a call.",
    ),
    cfg.StrOpt(
        "metrics_socket_file",
        default="/var/tmp/metrics_collector.sock",
        help="Unix domain (datagram) socket of the oslo.metrics collector the RPC metrics "
        "are sent to.",
    ),
    cfg.StrOpt(
        "metrics_process_name",
        default="",
        help="Process name which is used to identify which process produce metrics (the "
        "'process' label of the oslo_messaging_* metrics).",
    ),
    cfg.IntOpt(
        "metrics_thread_stop_timeout",
        default=10,
        help="The thread sending metrics to oslo.metrics ends this many seconds after its "
        "last send (the next measurement starts it again), so it never holds the process.",
    ),
    cfg.PortOpt(
        "metrics_prometheus_port",
        help="Serve the metrics for Prometheus on this port (HTTP, path /metrics) from the "
        "first transport created with it set; implies metrics_enabled. Needs "
        "rpcmsg[prometheus]. Unset: no endpoint.",
    ),
    cfg.HostAddressOpt(
        "metrics_prometheus_host",
        default="0.0.0.0",
        help="Address the Prometheus endpoint listens on.",
    ),
]

TRACING_GROUP = "oslo_messaging_tracing"

#: oslo.messaging 18.3.1's ``[oslo_messaging_tracing]`` options (same names, types, defaults).
tracing_opts: list[cfg.Opt] = [
    cfg.BoolOpt(
        "tracing_enabled",
        default=False,
        help="Enable OpenTelemetry tracing for RPC calls, casts, notifications and their "
        "handling (as rpcmsg.observe.enable_tracing()). Needs rpcmsg[otel].",
    ),
    cfg.StrOpt(
        "tracing_service_name",
        default="openstack",
        help="Service name reported in trace spans (when rpcmsg sets up the tracer provider).",
    ),
    cfg.StrOpt(
        "otel_exporter_otlp_endpoint",
        default="http://localhost:4318",
        help="OTLP exporter endpoint URL, used when no tracer provider is configured in the "
        "process. For HTTP/protobuf protocol, traces are sent to <endpoint>/v1/traces.",
    ),
    cfg.StrOpt(
        "otlp_protocol",
        default="http/protobuf",
        choices=[
            ("http/protobuf", "OTLP over HTTP with Protocol Buffers"),
            ("grpc", "OTLP over gRPC"),
        ],
        help="OTLP transport protocol.",
    ),
    cfg.BoolOpt(
        "insecure",
        default=False,
        help="Disable TLS verification for the OTLP endpoint. Only relevant when using the "
        "gRPC protocol.",
    ),
]

transport_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "transport_url",
        default="rabbit://",
        secret=True,
        help="The network address and optional user credentials for connecting to the "
        "messaging backend, in URL format: "
        "driver://[user:pass@]host:port[,[userN:passN@]hostN:portN]/virtual_host?query. "
        "The driver is chosen by the scheme (rabbit, amqp, redis, fake, or any installed "
        "rpcmsg.drivers entry point).",
    ),
    cfg.StrOpt(
        "control_exchange",
        default="openstack",
        help="The default exchange under which topics are scoped. May be overridden by an "
        "exchange name given in a target.",
    ),
    cfg.IntOpt(
        "max_message_size",
        default=16 * 1024 * 1024,
        min=1024,
        help="Largest encoded message body, in bytes, sent or accepted (requests, replies, "
        "notifications). A larger send is refused with MessageDeliveryFailure before it "
        "reaches the broker; a larger message received is logged and rejected. Read when a "
        "transport is created.",
    ),
]

rpc_opts: list[cfg.Opt] = [
    cfg.IntOpt(
        "rpc_response_timeout",
        default=60,
        help="Seconds to wait for a response from a call.",
    ),
    cfg.IntOpt(
        "executor_thread_pool_size",
        default=64,
        min=1,
        deprecated_name="rpc_thread_pool_size",
        help="Size of the executor thread pool of a server (threading or eventlet executor).",
    ),
    cfg.BoolOpt(
        "rpc_ping_enabled",
        default=False,
        help="Add an endpoint to answer to ping calls (method oslo_rpc_server_ping).",
    ),
    cfg.BoolOpt(
        "rpc_introspection_enabled",
        default=False,
        help="(rpcmsg only) Add an endpoint answering introspection requests (method "
        "rpcmsg_introspect, used by rpcmsg describe and rpcmsg status): the server's "
        "endpoints, namespaces, versions, method signatures and docstrings, executor, "
        "uptime and counts of handled and failed requests.",
    ),
]

base_opts: list[cfg.Opt] = transport_opts + rpc_opts

notification_opts: list[cfg.Opt] = [
    cfg.MultiStrOpt(
        "driver",
        default=[],
        deprecated_name="notification_driver",
        deprecated_group="DEFAULT",
        help="The driver(s) to handle sending notifications: messaging, messagingv2, routing, "
        "log, test, noop.",
    ),
    cfg.StrOpt(
        "transport_url",
        secret=True,
        deprecated_name="notification_transport_url",
        deprecated_group="DEFAULT",
        help="A URL for the transport used for notifications. When unset, the transport_url "
        "of the RPC transport is used.",
    ),
    cfg.ListOpt(
        "topics",
        default=["notifications"],
        deprecated_name="notification_topics",
        deprecated_group="DEFAULT",
        help="AMQP topic(s) used for notifications.",
    ),
    cfg.IntOpt(
        "retry",
        default=-1,
        help="The maximum number of attempts to re-send a notification message which failed "
        "to be delivered due to a recoverable error. 0: no retry, -1: indefinite.",
    ),
]

routing_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "routing_config",
        default="",
        deprecated_name="routing_notifier_config",
        deprecated_group="DEFAULT",
        help="RoutingNotifier configuration file location.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the core's options on ``conf`` (idempotent)."""
    conf.register_opts(base_opts)
    conf.register_opts(notification_opts + routing_opts, group=NOTIFICATIONS_GROUP)
    conf.register_opts(metrics_opts, group=METRICS_GROUP)
    conf.register_opts(tracing_opts, group=TRACING_GROUP)


def register_group(conf: cfg.ConfigOpts, group: str, opts: Sequence[cfg.Opt]) -> None:
    """Register a driver's option group on ``conf`` (idempotent)."""
    conf.register_opts(list(opts), group=group)


def driver_opts() -> Iterable[tuple[str, list[cfg.Opt]]]:
    """``(group, options)`` of every installed driver that declares options."""
    from rpcmsg._plugins import driver_classes

    seen: set[str] = set()
    for cls in driver_classes():
        group = getattr(cls, "option_group", None)
        opts = list(getattr(cls, "options", ()))
        if group and opts and group not in seen:
            seen.add(group)
            yield group, opts


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Return ``(group, options)`` pairs for ``oslo-config-generator``.

    The core's groups first, then one group per installed driver, sorted by group name. The
    options are copies, as oslo.messaging's are: a caller may change them freely. Registered
    under both the ``rpcmsg`` and the ``oslo.messaging`` entry points of ``oslo.config.opts``
    (services' generator files name the latter).
    """
    result: list[tuple[str | None, list[cfg.Opt]]] = [
        (None, list(base_opts)),
        (NOTIFICATIONS_GROUP, notification_opts + routing_opts),
        (METRICS_GROUP, list(metrics_opts)),
        (TRACING_GROUP, list(tracing_opts)),
    ]
    result.extend(sorted(driver_opts()))
    return [(group, copy.deepcopy(opts)) for group, opts in result]


def set_defaults(conf: cfg.ConfigOpts, executor_thread_pool_size: int | None = None) -> None:
    """Change option defaults on ``conf`` (oslo.messaging's ``opts.set_defaults``)."""
    register_opts(conf)
    if executor_thread_pool_size is not None:
        conf.set_default("executor_thread_pool_size", executor_thread_pool_size)
