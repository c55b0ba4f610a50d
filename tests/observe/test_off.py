"""Observability off costs nothing: OpenTelemetry is never imported; options asking for it
without the extra leave the transport working; ``[oslo_messaging_metrics]`` is
oslo.messaging's."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from rpcmsg import opts
from tests.amqp.conftest import oslo_python
from tests.conformance.test_crossprocess_notify import ROOT
from tests.drivers import IN_CI

OFF = textwrap.dedent(
    """
    import sys, threading
    from oslo_config import cfg
    import rpcmsg
    from rpcmsg import _observe
    from rpcmsg.notify import Notifier, get_notification_listener

    class E:
        def __init__(self):
            self.done = threading.Event()
        def echo(self, ctxt, value):
            return value
        def record(self, ctxt):
            self.done.set()
        def info(self, ctxt, publisher_id, event_type, payload, md):
            self.done.set()

    conf = cfg.ConfigOpts()
    conf([])
    %(setup)s
    transport = rpcmsg.get_rpc_transport(conf, "fake://")
    e = E()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic="t", server="s"), [e])
    server.start()
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="t"), timeout=10)
    assert client.call({}, "echo", value=1) == 1
    client.prepare(fanout=True).cast({}, "record")
    assert e.done.wait(10)
    n = E()
    listener = get_notification_listener(transport, [rpcmsg.Target(topic="n")], [n])
    listener.start()
    Notifier(transport, driver="messagingv2", publisher_id="p", topics=["n"]).info({}, "x", {})
    assert n.done.wait(10)
    for each in (server, listener):
        each.stop()
        each.wait()
    transport.cleanup()
    print(sorted(m for m, v in sys.modules.items() if v and m.split(".")[0] == "opentelemetry"))
    print(_observe.hooks)
    print(getattr(_observe.hooks, "tracer", None) is not None)
    """
)


def _run(setup: str) -> list[str]:
    script = OFF % {"setup": setup}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [*done.stdout.splitlines(), done.stderr]


def test_off_by_default_and_opentelemetry_never_imported() -> None:
    out = _run("")
    assert out[:2] == ["[]", "None"]


def test_metrics_asked_for_without_the_extra_log_and_work() -> None:
    # opentelemetry made unimportable, as when rpcmsg[otel] is not installed.
    setup = (
        "sys.modules['opentelemetry'] = None\n"
        "from rpcmsg.opts import register_opts; register_opts(conf)\n"
        "conf.set_override('metrics_enabled', True, 'oslo_messaging_metrics')"
    )
    out = _run(setup)
    assert out[:2] == ["[]", "None"]
    assert "OpenTelemetry is not installed" in out[-1]


def test_metrics_enabled_in_the_configuration_turns_them_on() -> None:
    setup = (
        "from rpcmsg.opts import register_opts; register_opts(conf)\n"
        "conf.set_override('metrics_enabled', True, 'oslo_messaging_metrics')"
    )
    out = _run(setup)
    assert "opentelemetry.metrics" in out[0]
    assert out[1].startswith("<rpcmsg._observe._otel.OTelHooks")


def test_tracing_enabled_in_the_configuration_uses_the_tracer_provider() -> None:
    setup = (
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "from rpcmsg.opts import register_opts; register_opts(conf)\n"
        "conf.set_override('tracing_enabled', True, 'oslo_messaging_tracing')"
    )
    out = _run(setup)
    assert out[2] == "True"


OTLP = textwrap.dedent(
    """
    import http.server, sys, threading
    from oslo_config import cfg
    import rpcmsg
    from rpcmsg.opts import register_opts

    received = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    collector = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    group = "oslo_messaging_tracing"
    conf.set_override("tracing_enabled", True, group)
    conf.set_override("tracing_service_name", "svc-under-test", group)
    endpoint = f"http://127.0.0.1:{collector.server_port}"
    conf.set_override("otel_exporter_otlp_endpoint", endpoint, group)
    transport = rpcmsg.get_rpc_transport(conf, "fake://")
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="exported"), timeout=0.1)
    try:
        client.call({}, "nobody_answers")
    except rpcmsg.MessagingTimeout:
        pass
    from opentelemetry import trace
    trace.get_tracer_provider().force_flush()
    transport.cleanup()
    path, body = received[0]
    print(path, b"svc-under-test" in body, b"exported/nobody_answers" in body)
    """
)


def test_tracing_enabled_without_a_tracer_provider_exports_over_otlp() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    done = subprocess.run(
        [sys.executable, "-c", OTLP], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["/v1/traces", "True", "True"]


def test_tracing_enabled_without_an_otlp_exporter_logs_and_works() -> None:
    # The OTLP exporter made unimportable, as when it is not installed.
    setup = (
        "sys.modules['opentelemetry.exporter.otlp'] = None\n"
        "from rpcmsg.opts import register_opts; register_opts(conf)\n"
        "conf.set_override('tracing_enabled', True, 'oslo_messaging_tracing')"
    )
    out = _run(setup)
    assert out[1:3] == ["None", "False"]
    assert "cannot set one up" in out[-1]


OSLO_OPTS = """
import json
from oslo_messaging._metrics.client import oslo_messaging_metrics
from oslo_messaging._tracing.client import oslo_messaging_tracing
def dump(opts):
    return [[o.name, type(o).__name__, o.default, getattr(o.type, "choices", None) and
             list(o.type.choices)] for o in opts]
print(json.dumps([dump(oslo_messaging_metrics), dump(oslo_messaging_tracing)]))
"""


def _dump(options: list[Any]) -> list[Any]:
    return [
        [o.name, type(o).__name__, o.default,
         getattr(o.type, "choices", None) and list(o.type.choices)]
        for o in options
    ]  # fmt: skip


def test_metrics_and_tracing_options_are_oslo_messagings() -> None:
    python = oslo_python()
    if python is None:
        if IN_CI:
            pytest.fail("CI needs oslo.messaging: set RPCMSG_OSLO_PYTHON")
        pytest.skip("oslo.messaging's python not found (set RPCMSG_OSLO_PYTHON)")
    done = subprocess.run([python, "-c", OSLO_OPTS], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    theirs, their_tracing = json.loads(done.stdout)
    assert _dump(opts.tracing_opts) == their_tracing
    ours = _dump(opts.metrics_opts)
    assert ours[: len(theirs)] == theirs
    assert [option[0] for option in ours[len(theirs) :]] == [
        "metrics_prometheus_port",
        "metrics_prometheus_host",
    ]
    listed = dict(opts.list_opts())[opts.METRICS_GROUP]
    assert [o.name for o in listed] == [o.name for o in opts.metrics_opts]
