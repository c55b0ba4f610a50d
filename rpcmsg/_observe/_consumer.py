"""The consumer-side hooks: spans and metrics of requests and notifications handled (sync
and async share each start and end step)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, SpanKind

if TYPE_CHECKING:
    from rpcmsg.notify.listener import IncomingNotification, NotificationServerBase
    from rpcmsg.rpc.server import RPCIncoming, RPCServer

from rpcmsg._observe._common import (
    RPC_SYSTEM,
    TRACE_KEY,
    Handling,
    Hooked,
    context_carrier,
    endpoint_of,
    mark_failed,
    system_of,
)

__all__ = ["ConsumerHooks"]


class ConsumerHooks(Hooked):
    """Requests and notifications handled, and drivers' reconnections."""

    # -- consumer side: requests -------------------------------------------------------

    def _serve_start(
        self, server: Any, message: dict[str, Any], call: bool, redelivered: bool, carrier: Any
    ) -> Handling:
        target = server.target
        topic = target.topic or ""
        method = str(message.get("method"))
        call_type = "call" if call else "cast"
        span = None
        if self.tracer is not None:
            parent = propagate.extract(carrier if isinstance(carrier, dict) else {})
            span = self.tracer.start_span(
                f"{topic}/{method}" if call else f"process {topic}",
                context=parent,
                kind=SpanKind.SERVER if call else SpanKind.CONSUMER,
                attributes={
                    "messaging.system": system_of(server.transport),
                    "messaging.operation.name": "process",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": topic,
                    "rpc.system": RPC_SYSTEM,
                    "rpc.system.name": RPC_SYSTEM,
                    "rpc.service": topic,
                    "rpc.method": method,
                    "rpcmsg.call_type": call_type,
                },
            )
        state = Handling(span, topic)
        m = self.m
        if m is not None:
            state.labels = {"topic": topic, "server": str(target.server or "")}
            if redelivered:
                m.redeliveries.add(1, {"kind": "rpc", "topic": topic})
            endpoint = endpoint_of(server, message)
            if endpoint is not None:  # as oslo.metrics: a request for no method is not one
                state.oslo = {
                    "exchange": str(target.exchange),
                    "topic": str(target.topic),
                    "server": str(target.server),
                    "endpoint": endpoint,
                    "namespace": str(message.get("namespace")),
                    "version": str(message.get("version")),
                    "method": method,
                    "process": m.process,
                }
                m.oslo_server_start.add(1, state.oslo)
            m.server_in_flight.add(1, state.labels["topic"], state.labels["server"])
            state.labels = {**state.labels, "call_type": call_type, "method": method}
        return state

    def _serve_end(self, state: Handling, failure: BaseException | None) -> None:
        if state.token is not None:
            context.detach(state.token)
        m = self.m
        if m is not None:
            elapsed = time.perf_counter() - state.started
            labels = state.labels
            m.server_in_flight.add(-1, labels["topic"], labels["server"])
            labels = {**labels, "outcome": "ok" if failure is None else "error"}
            m.server_requests.add(1, labels)
            m.server_duration.record(elapsed, labels)
            oslo = state.oslo
            if oslo is not None:
                if failure is None:
                    m.oslo_server_seconds.record(elapsed, oslo)
                    m.oslo_server_end.add(1, oslo)
                else:
                    m.oslo_server_exception.add(1, {**oslo, "exception": type(failure).__name__})
        if state.span is not None:
            if failure is not None:
                mark_failed(state.span, failure)
            state.span.end()

    def serve(
        self,
        server: RPCServer,
        request: RPCIncoming,
        carrier: Any,
        dispatch: Callable[[RPCIncoming], tuple[Any, BaseException | None]],
    ) -> tuple[Any, BaseException | None]:
        if not isinstance(carrier, dict):
            carrier = context_carrier(request.ctxt, "")
        state = self._serve_start(
            server, request.message, request.is_call, request._raw.redelivered, carrier
        )
        try:
            result, failure = dispatch(request)
        except BaseException as exc:
            self._serve_end(state, exc)
            raise
        self._serve_end(state, failure)
        return result, failure

    async def aserve(
        self,
        server: Any,
        message: dict[str, Any],
        call: bool,
        redelivered: bool,
        carrier: Any,
        run: Callable[[], Awaitable[tuple[Any, BaseException | None]]],
    ) -> tuple[Any, BaseException | None]:
        if not isinstance(carrier, dict):
            carrier = context_carrier(message, "_context_")
        state = self._serve_start(server, message, call, redelivered, carrier)
        try:
            result, failure = await run()
        except BaseException as exc:
            self._serve_end(state, exc)
            raise
        self._serve_end(state, failure)
        return result, failure

    # -- consumer side: notifications --------------------------------------------------

    def _notes_start(
        self, server: Any, messages: list[dict[str, Any]], redelivered: list[bool], batch: bool
    ) -> Handling:
        carriers = [message.pop(TRACE_KEY, None) for message in messages]
        priority = str(messages[0].get("priority", "")).lower() if messages else ""
        topics = sorted({str(t.topic) for t in server.targets})
        topic = f"{topics[0] if len(topics) == 1 else '*'}.{priority}"
        span = None
        if self.tracer is not None:
            attributes: dict[str, Any] = {
                "messaging.system": system_of(server.transport),
                "messaging.operation.name": "process",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
            }
            links = []
            if not batch:
                parent = propagate.extract(carriers[0] if isinstance(carriers[0], dict) else {})
                message_id = messages[0].get("message_id")
                if isinstance(message_id, str):
                    attributes["messaging.message.id"] = message_id
            else:
                attributes["messaging.batch.message_count"] = len(messages)
                for carrier in carriers:
                    if isinstance(carrier, dict):
                        sc = trace.get_current_span(propagate.extract(carrier)).get_span_context()
                        if sc.is_valid:
                            links.append(Link(sc))
                parent = context.Context()
            span = self.tracer.start_span(
                f"process {topic}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )
        state = Handling(span, topic)
        state.count = len(messages)
        m = self.m
        if m is not None:
            again = sum(1 for flag in redelivered if flag)
            if again:
                m.redeliveries.add(again, {"kind": "notification", "topic": topic})
        return state

    def _notes_end(self, state: Handling, requeued: int, exc: BaseException | None) -> None:
        if state.token is not None:
            context.detach(state.token)
        m = self.m
        if m is not None:
            topic = state.topic
            if exc is not None:
                m.notifications_handled.add(state.count, {"topic": topic, "outcome": "error"})
            else:
                if requeued:
                    m.notifications_handled.add(requeued, {"topic": topic, "outcome": "requeue"})
                if state.count - requeued:
                    m.notifications_handled.add(
                        state.count - requeued, {"topic": topic, "outcome": "ok"}
                    )
        if state.span is not None:
            if exc is not None:
                mark_failed(state.span, exc)
            state.span.end()

    def dispatch_notifications(
        self,
        server: NotificationServerBase,
        incoming: IncomingNotification | Sequence[IncomingNotification],
        dispatch: Callable[[Any], Any],
    ) -> Any:
        from rpcmsg.notify.dispatcher import NotificationResult

        batch = isinstance(incoming, (list, tuple))
        messages: list[Any] = list(incoming) if batch else [incoming]  # type: ignore[arg-type]
        state = self._notes_start(
            server,
            [each.message for each in messages],
            [bool(each._raw.redelivered) for each in messages],
            batch,
        )
        try:
            result = dispatch(incoming)
        except BaseException as exc:
            self._notes_end(state, 0, exc)
            raise
        requeued = len(result or ()) if batch else int(result == NotificationResult.REQUEUE)
        self._notes_end(state, requeued, None)
        return result

    async def aprocess_notifications(
        self,
        server: Any,
        messages: list[dict[str, Any]],
        redelivered: list[bool],
        batch: bool,
        run: Callable[[], Awaitable[int]],
    ) -> None:
        state = self._notes_start(server, messages, redelivered, batch)
        try:
            requeued = await run()
        except BaseException as exc:
            self._notes_end(state, 0, exc)
            raise
        self._notes_end(state, requeued, None)

    def reconnected(self, driver: str) -> None:
        if self.m is not None:
            self.m.reconnects.add(1, {"driver": driver})
