"""The producer-side hooks: spans and metrics of calls, casts, fanout casts and notifications
(sync and async share each start and end step)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

if TYPE_CHECKING:
    from rpcmsg.target import Target
    from rpcmsg.transport import Transport

from rpcmsg._observe._common import (
    RPC_SYSTEM,
    TRACE_KEY,
    Hooked,
    Sending,
    mark_failed,
    outcome_of,
    system_of,
)

__all__ = ["ProducerHooks"]


class ProducerHooks(Hooked):
    """Calls, casts and notifications sent."""

    # -- producer side: calls, casts, fanout casts -------------------------------------

    def _send_start(
        self,
        transport: Any,
        target: Target,
        message: dict[str, Any],
        wait_for_reply: bool | None,
        timeout: float | None,
    ) -> tuple[Sending, dict[str, Any]]:
        call = bool(wait_for_reply)
        call_type = "call" if call else "fanout" if target.fanout else "cast"
        method = str(message.get("method"))
        topic = target.topic or ""
        span = None
        if self.tracer is not None:
            destination = f"{topic}.{target.server}" if target.server else topic
            span = self.tracer.start_span(
                f"{topic}/{method}" if call else f"send {topic}",
                kind=SpanKind.CLIENT if call else SpanKind.PRODUCER,
                attributes={
                    "messaging.system": system_of(transport),
                    "messaging.operation.name": "send",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": destination,
                    "rpc.system": RPC_SYSTEM,
                    "rpc.system.name": RPC_SYSTEM,
                    "rpc.service": topic,
                    "rpc.method": method,
                    "rpcmsg.call_type": call_type,
                },
            )
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            message = {**message, TRACE_KEY: carrier}
        state = Sending(span, call_type, topic)
        m = self.m
        if m is not None:
            state.labels = {
                "call_type": call_type,
                "topic": topic,
                "server": str(target.server or ""),
                "method": method,
            }
            state.oslo = {
                "call_type": "call" if call else "cast",
                "exchange": str(target.exchange),
                "topic": str(target.topic),
                "namespace": str(target.namespace),
                "version": str(target.version),
                "server": str(target.server),
                "fanout": str(target.fanout),
                "process": m.process,
                "method": method,
                # oslo.messaging 18.3.1 never fills its timeout label in: "None" on the
                # dashboards built on it, so here too.
                "timeout": "None",
            }
            m.oslo_client_start.add(1, state.oslo)
            m.client_in_flight.add(1, call_type, topic)
        return state, message

    def _send_end(self, state: Sending, exc: BaseException | None) -> None:
        m = self.m
        if m is not None:
            elapsed = time.perf_counter() - state.started
            m.client_in_flight.add(-1, state.call_type, state.topic)
            if exc is None:
                m.oslo_client_seconds.record(elapsed, state.oslo)
                m.oslo_client_end.add(1, state.oslo)
            else:
                m.oslo_client_exception.add(1, {**state.oslo, "exception": type(exc).__name__})
            labels = {**state.labels, "outcome": "ok" if exc is None else outcome_of(exc)}
            m.client_requests.add(1, labels)
            m.client_duration.record(elapsed, labels)
        if state.span is not None:
            if exc is not None:
                mark_failed(state.span, exc)
            state.span.end()

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
        state, message = self._send_start(transport, target, message, wait_for_reply, timeout)
        try:
            result = plain(
                transport, target, ctxt, message, wait_for_reply, timeout,
                call_monitor_timeout, retry, transport_options,
            )  # fmt: skip
        except BaseException as exc:
            self._send_end(state, exc)
            raise
        self._send_end(state, None)
        return result

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
    ) -> Any:
        state, message = self._send_start(transport, target, message, wait_for_reply, timeout)
        try:
            result = await plain(
                transport, target, ctxt, message, wait_for_reply, timeout,
                call_monitor_timeout, retry, transport_options,
            )  # fmt: skip
        except BaseException as exc:
            self._send_end(state, exc)
            raise
        self._send_end(state, None)
        return result

    # -- producer side: notifications --------------------------------------------------

    def _notify_start(
        self, transport: Any, target: Target, message: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        span = None
        if self.tracer is not None:
            topic = target.topic or ""
            attributes = {
                "messaging.system": system_of(transport),
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
        return span, message

    def _notify_end(self, span: Any, target: Target, exc: BaseException | None) -> None:
        if self.m is not None:
            outcome = "ok" if exc is None else "error"
            self.m.notifications_sent.add(1, {"topic": target.topic or "", "outcome": outcome})
        if span is not None:
            if exc is not None:
                mark_failed(span, exc)
            span.end()

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
        span, message = self._notify_start(transport, target, message)
        try:
            plain(transport, target, ctxt, message, version, retry)
        except BaseException as exc:
            self._notify_end(span, target, exc)
            raise
        self._notify_end(span, target, None)

    async def asend_notification(
        self,
        plain: Callable[..., Awaitable[None]],
        transport: Any,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        version: float,
        retry: Any,
    ) -> None:
        span, message = self._notify_start(transport, target, message)
        try:
            await plain(transport, target, ctxt, message, version, retry)
        except BaseException as exc:
            self._notify_end(span, target, exc)
            raise
        self._notify_end(span, target, None)
