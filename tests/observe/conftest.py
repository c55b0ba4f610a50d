"""Fixtures turning tracing and metrics on for one test, with in-memory exporters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from rpcmsg import observe

WAIT = 15.0


class Spans:
    """The spans finished during a test."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def wait_for(self, predicate: Callable[[ReadableSpan], bool], count: int = 1) -> list[Any]:
        """The finished spans matching ``predicate`` once there are ``count`` of them."""
        deadline = time.monotonic() + WAIT
        while True:
            found = [s for s in self.all() if predicate(s)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def named(self, name: str, count: int = 1) -> list[Any]:
        found = self.wait_for(lambda s: s.name == name, count)
        assert len(found) >= count, f"no span {name!r} among {[s.name for s in self.all()]}"
        return found


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    observe.enable_tracing(provider)
    try:
        yield Spans(exporter, provider)
    finally:
        observe.disable()
        provider.shutdown()


class Metrics:
    """The metric points recorded during a test."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """``(attributes, point)`` of every data point of metric ``name``."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes), p) for p in metric.data.data_points]
        return found

    def value(self, name: str, **attributes: Any) -> float:
        """The sum of the counter (or histogram count) points whose attributes include
        ``attributes``."""
        total = 0.0
        for attrs, point in self.points(name):
            if all(attrs.get(k) == v for k, v in attributes.items()):
                total += getattr(point, "value", None) or getattr(point, "count", 0)
        return total


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    observe.enable_metrics(provider, process_name="tests")
    try:
        yield Metrics(reader)
    finally:
        observe.disable()
        provider.shutdown()
