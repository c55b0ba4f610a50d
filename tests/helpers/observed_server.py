"""An RPC server and a notification listener with tracing on, in a process of their own.

Usage: python -m tests.helpers.observed_server URL EXCHANGE TOPIC [PROMETHEUS_PORT]
Serves TOPIC (server "child") and listens to the notifications of TOPIC. Prints "READY",
then each finished span as one line "SPAN <json>" (name, kind, trace and span ids, parent
id, attributes); runs until stdin is closed. With PROMETHEUS_PORT, the configuration option
``[oslo_messaging_metrics] metrics_prometheus_port`` is set (nothing else). Methods:
``echo(value)``, ``fail()`` (raises ValueError), ``sleep(seconds)``, ``record(value)``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from oslo_config import cfg

import rpcmsg
from rpcmsg import observe
from rpcmsg.notify import get_notification_listener
from rpcmsg.opts import register_opts

_print_lock = threading.Lock()


class LineExporter(SpanExporter):
    """Writes each span to stdout as a JSON line."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            line = {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": f"{span.context.trace_id:032x}",
                "span_id": f"{span.context.span_id:016x}",
                "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                "attributes": dict(span.attributes or {}),
            }
            with _print_lock:
                print("SPAN " + json.dumps(line), flush=True)
        return SpanExportResult.SUCCESS


class Endpoint:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def fail(self, ctxt: Any) -> None:
        raise ValueError("child says no")

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def record(self, ctxt: Any, value: Any) -> None:
        return None


class Notifications:
    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, md: Any) -> None:
        return None


def main() -> None:
    url, exchange, topic = sys.argv[1:4]
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(LineExporter()))
    observe.enable_tracing(provider)
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    if len(sys.argv) > 4:
        conf.set_override("metrics_prometheus_port", int(sys.argv[4]), "oslo_messaging_metrics")
    transport = rpcmsg.get_rpc_transport(conf, url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="child"), [Endpoint()]
    )
    notes = rpcmsg.get_notification_transport(conf, url)
    listener = get_notification_listener(notes, [rpcmsg.Target(topic=topic)], [Notifications()])
    server.start()
    listener.start()
    print("READY", flush=True)
    sys.stdin.read()
    for each in (server, listener):
        each.stop()
        each.wait()
    transport.cleanup()
    notes.cleanup()


if __name__ == "__main__":
    main()
