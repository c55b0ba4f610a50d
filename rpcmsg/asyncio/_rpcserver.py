"""The async RPC server: the sync server's protocol (:mod:`rpcmsg._serving`) and dispatch
(:class:`rpcmsg.rpc.dispatcher.RPCDispatcher`), with awaited I/O.

Delivery as the sync server: a call is acknowledged when taken, a cast after its endpoint
returned; duplicate ``_unique_id`` deliveries are handled once; while a monitored call runs a
keep-alive goes every ``client_timeout / 2`` seconds (from the loop, whether the endpoint is
``async def`` or runs in a thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
from typing import Any

from rpcmsg import _introspect, _observe, _serving, _wire
from rpcmsg.asyncio._introspect import AsyncIntrospectionEndpoint
from rpcmsg.asyncio._server import AsyncServerBase
from rpcmsg.asyncio._transport import AsyncNotificationTransport, AsyncTransport
from rpcmsg.driver.aio import AsyncIncomingMessage, AsyncListener
from rpcmsg.exceptions import InvalidTarget
from rpcmsg.rpc.dispatcher import RPCAccessPolicyBase, RPCDispatcher
from rpcmsg.serializer import Serializer
from rpcmsg.target import Target

__all__ = ["RPCServer", "get_rpc_server"]

LOG = logging.getLogger("rpcmsg.rpc.server")


class RPCServer(AsyncServerBase):
    """Serves the methods of ``endpoints`` on ``target`` (topic and server required);
    ``async def`` methods run on the loop, plain ones in the server's thread pool."""

    dispatcher: RPCDispatcher

    def __init__(
        self,
        transport: AsyncTransport,
        target: Target,
        dispatcher: RPCDispatcher,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__(transport, dispatcher, max_concurrency)
        if isinstance(transport, AsyncNotificationTransport):
            LOG.warning(
                "Using notification transport for RPC. Please use "
                "get_rpc_transport to obtain an RPC transport instance."
            )
        self.target = target
        self._dedup = _serving.DuplicateFilter()
        # Counted only when introspection is on: nothing to pay otherwise.
        self._stats = _introspect.install(self, AsyncIntrospectionEndpoint)

    def _describe(self) -> dict[str, Any]:
        """The introspection answer (:mod:`rpcmsg._introspect`)."""
        executor = {
            "type": "asyncio",
            "max_workers": self.max_concurrency,
            "workers": self.max_concurrency if self._running else 0,
            "busy": self.in_flight,
        }
        return _introspect.server_description(
            self, self._stats, executor, self.dispatcher.endpoints
        )

    async def _create_listener(self) -> AsyncListener:
        target = self.target
        if not target.topic or not target.server:
            raise InvalidTarget("A server's target must have topic and server names", target)
        full = target(exchange=self.transport._require_exchange(target.exchange))
        return await self.transport.driver.listen(full, capacity=self.max_concurrency)

    async def _process(self, incoming: AsyncIncomingMessage) -> None:
        try:
            request = _serving.parse_request(incoming.body, self.transport.max_message_size)
        except _wire.MalformedMessage as exc:
            LOG.error("Dropping a malformed request on %s: %s", self.target, exc)
            await incoming.reject()
            return
        if self._dedup.seen(request.unique_id):
            LOG.info("Dropping a duplicate delivery of a request on %s", self.target)
            await incoming.ack()
            return
        is_call = request.is_call
        if is_call:
            await incoming.ack()
        trace = request.message.pop(_observe.TRACE_KEY, None)
        hooks = _observe.hooks
        if hooks is None:
            result, failure = await self._handle_request(request, incoming)
        else:
            result, failure = await hooks.aserve(
                self,
                request.message,
                is_call,
                incoming.redelivered,
                trace,
                lambda: self._handle_request(request, incoming),
            )
        stats = self._stats
        if stats is not None:
            stats.record(failure is not None)
        if is_call:
            await self._reply(request, result, failure, True)

    async def _handle_request(
        self, request: _serving.Request, incoming: AsyncIncomingMessage
    ) -> tuple[Any, BaseException | None]:
        """Dispatch with keep-alives: the result, or the failure to reply with. A cast is
        acknowledged here, once its method returned."""
        is_call = request.is_call
        ctxt = _wire.unpack_context(request.message)
        keepalive = None
        if is_call and request.client_timeout:
            keepalive = asyncio.create_task(self._keepalive(request, request.client_timeout / 2))
        result: Any = None
        failure: BaseException | None = None
        try:
            result = await self._dispatch(ctxt, request.message)
        except Exception as exc:
            failure = _serving.failure_of(exc, self.target)
        finally:
            if keepalive is not None:
                keepalive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keepalive
            if not is_call:
                await incoming.ack()
        return result, failure

    async def _dispatch(self, ctxt: dict[str, Any], message: dict[str, Any]) -> Any:
        dispatcher = self.dispatcher
        func, args = dispatcher.select(message)
        if not inspect.iscoroutinefunction(func):
            # The serializer, the method and the serializer again, in a thread: as the sync
            # server runs them.
            loop = asyncio.get_running_loop()
            # In a copy of this task's context: the endpoint sees its handling span as current.
            run = contextvars.copy_context().run
            return await loop.run_in_executor(
                self._executor, run, dispatcher._call, func, ctxt, args
            )
        ctxt, kwargs = dispatcher.arguments(ctxt, args)
        return dispatcher.result(ctxt, await func(ctxt, **kwargs))

    async def _keepalive(self, request: _serving.Request, interval: float) -> None:
        wait = interval
        while True:
            await asyncio.sleep(wait)
            sent = await self._reply(request, None, None, False)
            wait = _serving.heartbeat_wait(interval, sent)

    async def _reply(
        self,
        request: _serving.Request,
        result: Any,
        failure: BaseException | None,
        ending: bool,
    ) -> bool:
        """Send the reply (or a keep-alive); returns whether the driver took it."""
        msg_id, reply_q = request.msg_id, request.reply_q
        assert msg_id is not None and reply_q is not None
        body = _serving.encode_reply(
            msg_id, result, failure, ending, self.transport.max_message_size
        )
        try:
            await self.transport.driver.send_reply(reply_q, body)
        except Exception as exc:
            LOG.error("Could not send the reply to %s on %s: %s", msg_id, reply_q, exc)
            return False
        return True


def get_rpc_server(
    transport: AsyncTransport,
    target: Target,
    endpoints: list[Any],
    serializer: Serializer | None = None,
    access_policy: RPCAccessPolicyBase | type[RPCAccessPolicyBase] | None = None,
    server_cls: type[RPCServer] = RPCServer,
    max_concurrency: int | None = None,
) -> RPCServer:
    """An async RPC server for ``endpoints`` on ``target``; as :func:`rpcmsg.get_rpc_server`
    without ``executor``: ``max_concurrency`` (default ``executor_thread_pool_size``)
    bounds the messages handled at once and the threads of plain endpoints."""
    dispatcher = RPCDispatcher(
        endpoints,
        serializer,
        access_policy,
        ping_enabled=True if transport.conf.rpc_ping_enabled else None,
    )
    return server_cls(transport, target, dispatcher, max_concurrency)
