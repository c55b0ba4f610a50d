"""What tracing and metrics cost a sequential call on the fake driver.

    python benchmarks/observe_overhead.py [--mode off|tracing|metrics|both] [--calls N]

Prints the median and p99 latency of N sequential calls (100 B) in microseconds, and
whether OpenTelemetry was imported. ``off`` is the default configuration; run it against
another checkout (``PYTHONPATH=<tree>:<tree>/drivers``) to compare with code before the
hooks. ``tracing`` records every span into a processor that drops it (the SDK's own cost,
no export); ``metrics`` records into an SDK meter provider with an in-memory reader. Runs
alternate off and on in one process would share warm caches; each mode is one process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from oslo_config import cfg

import rpcmsg


class Echo:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value


def _enable(mode: str) -> None:
    if mode in ("tracing", "both"):
        from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

        from rpcmsg import observe

        provider = TracerProvider()
        provider.add_span_processor(SpanProcessor())  # records, exports nothing
        observe.enable_tracing(provider)
    if mode in ("metrics", "both"):
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        from rpcmsg import observe

        observe.enable_metrics(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="off", choices=["off", "tracing", "metrics", "both"])
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    _enable(args.mode)
    conf = cfg.ConfigOpts()
    conf([])
    transport = rpcmsg.get_rpc_transport(conf, "fake://")
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic="bench", server="s"), [Echo()])
    server.start()
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="bench"), timeout=10)
    payload = "x" * 100
    for _ in range(500):  # warm up
        client.call({}, "echo", value=payload)
    samples = []
    for _ in range(args.calls):
        started = time.perf_counter()
        client.call({}, "echo", value=payload)
        samples.append(time.perf_counter() - started)
    server.stop()
    server.wait()
    transport.cleanup()
    samples.sort()
    imported = any(m.split(".")[0] == "opentelemetry" for m in sys.modules)
    print(
        f"mode={args.mode} calls={args.calls} "
        f"p50={statistics.median(samples) * 1e6:.1f}us "
        f"p99={samples[int(len(samples) * 0.99)] * 1e6:.1f}us "
        f"mean={statistics.fmean(samples) * 1e6:.1f}us opentelemetry_imported={imported}"
    )


if __name__ == "__main__":
    main()
