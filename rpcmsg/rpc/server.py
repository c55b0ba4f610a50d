"""RPCServer: consumes a target's requests, dispatches them, replies to calls."""

from __future__ import annotations

import logging
import time
from typing import Any

from rpcmsg import _introspect, _observe, _serving, _wire
from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.exceptions import InvalidTarget
from rpcmsg.rpc.dispatcher import (
    RPCAccessPolicyBase,
    RPCDispatcher,
    expected_exceptions,
    expose,
)
from rpcmsg.serializer import Serializer
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import RPCTransport, Transport

__all__ = ["RPCServer", "expected_exceptions", "expose", "get_rpc_server"]

LOG = logging.getLogger(__name__)

_DEDUP_CACHE = _serving.DEDUP_CACHE


class RPCIncoming:
    """One request as the dispatcher sees it (the shape of oslo.messaging's
    ``RpcIncomingMessage``): ``ctxt``, ``message`` (without the ids and the reply address),
    ``msg_id``, ``reply_q``, ``client_timeout`` (the caller's call monitor timeout or None),
    and ``reply``, ``heartbeat``, ``acknowledge``, ``requeue``.

    ``reply`` and ``heartbeat`` do nothing for a cast; a call's reply is sent once.
    """

    def __init__(
        self,
        server: RPCServer,
        raw: IncomingMessage,
        ctxt: dict[str, Any],
        message: dict[str, Any],
        msg_id: str | None,
        reply_q: str | None,
        client_timeout: float | None,
    ) -> None:
        self._server = server
        self._raw = raw
        self.ctxt = ctxt
        self.message = message
        self.msg_id = msg_id
        self.reply_q = reply_q
        self.client_timeout = client_timeout
        self._replied = False
        self._settled = False

    @property
    def is_call(self) -> bool:
        return bool(self.msg_id and self.reply_q)

    def acknowledge(self) -> None:
        """Settle the message with the broker (once; later calls do nothing)."""
        if not self._settled:
            self._settled = True
            self._raw.ack()

    def requeue(self) -> None:
        """Give the message back to its queue for another delivery (unless settled)."""
        if not self._settled:
            self._settled = True
            self._raw.requeue()

    def reply(self, reply: Any = None, failure: Any = None) -> None:
        """Send the call's result, or ``failure`` (an exception or an ``exc_info`` tuple)."""
        if not self.is_call or self._replied:
            return
        self._replied = True
        if isinstance(failure, tuple):
            failure = failure[1]
        self._server._reply(self.reply_q, self.msg_id, reply, failure)  # type: ignore[arg-type]

    def heartbeat(self) -> bool:
        """Tell the caller the call is still running (its call monitor's keep-alive).

        Returns False when the driver did not take it (the dispatcher then tries again
        sooner) rather than raising: a broker hiccup must not end the keep-alives of a call
        whose server still works.
        """
        if not self.is_call or self._replied:
            return True
        return self._server._reply(
            self.reply_q,  # type: ignore[arg-type]
            self.msg_id,  # type: ignore[arg-type]
            None,
            None,
            ending=False,
        )


class RPCServer(MessageHandlingServer):
    """Serves the methods of ``endpoints`` on ``target`` (which needs topic and server).

    Delivery: a call is acknowledged when taken (at most once: its caller has its own
    timeout); a cast is acknowledged after its endpoint returned, so on drivers with the
    ``at_least_once`` capability a cast held by a server that dies is handled elsewhere.
    Duplicate deliveries of one ``_unique_id`` are handled once.
    """

    def __init__(
        self,
        transport: Transport,
        target: Target,
        dispatcher: RPCDispatcher,
        executor: str | None = None,
    ) -> None:
        super().__init__(transport, dispatcher, executor)
        if not isinstance(transport, RPCTransport):
            LOG.warning(
                "Using notification transport for RPC. Please use "
                "get_rpc_transport to obtain an RPC transport instance."
            )
        self.target = target
        self._dedup = _serving.DuplicateFilter()
        # Counted only when introspection is on: nothing to pay otherwise.
        self._stats = _introspect.install(self, _introspect.IntrospectionEndpoint)

    def _describe(self) -> dict[str, Any]:
        """The introspection answer (:mod:`rpcmsg._introspect`)."""
        with self._pool_lock:
            workers, idle = self._workers, self._idle
        executor = {
            "type": self.executor_type,
            "max_workers": self._max_workers,
            "workers": workers,
            "busy": max(0, workers - idle),
        }
        return _introspect.server_description(
            self, self._stats, executor, self.dispatcher.endpoints
        )

    def _create_listener(self) -> Listener:
        target = self.target
        if not target.topic or not target.server:
            raise InvalidTarget("A server's target must have topic and server names", target)
        full = target(exchange=self.transport._require_exchange(target.exchange))
        return self.transport.driver.listen(full, capacity=self._max_workers)

    def _duplicate(self, unique_id: Any) -> bool:
        return self._dedup.seen(unique_id)

    def _process(self, incoming: IncomingMessage) -> None:
        try:
            parsed = _serving.parse_request(incoming.body, self.transport.max_message_size)
        except _wire.MalformedMessage as exc:
            LOG.error("Dropping a malformed request on %s: %s", self.target, exc)
            incoming.reject()
            return
        message, msg_id = parsed.message, parsed.msg_id
        trace = message.pop(_observe.TRACE_KEY, None)
        request = RPCIncoming(
            self, incoming, {}, message, msg_id, parsed.reply_q, parsed.client_timeout
        )
        if self._dedup.seen(parsed.unique_id):
            LOG.info("Dropping a duplicate delivery of a request on %s", self.target)
            request.acknowledge()
            return
        started = time.monotonic()
        LOG.debug("Request %s for method %s taken", msg_id, message.get("method"))
        if request.is_call:
            request.acknowledge()
        request.ctxt = _wire.unpack_context(message)
        hooks = _observe.hooks
        if hooks is None:
            result, failure = self._dispatch(request)
        else:
            result, failure = hooks.serve(self, request, trace, self._dispatch)
        stats = self._stats
        if stats is not None:
            stats.record(failure is not None)
        request.reply(result, failure)
        LOG.debug(
            "Request %s for method %s handled (%s) in %.3fs",
            msg_id,
            message.get("method"),
            "failed" if failure is not None else "succeeded",
            time.monotonic() - started,
        )

    def _dispatch(self, request: RPCIncoming) -> tuple[Any, BaseException | None]:
        """Run the request's endpoint method: its result, or the exception it raised (or
        the dispatcher's). A cast is acknowledged here, once the method returned."""
        result: Any = None
        failure: BaseException | None = None
        try:
            result = self.dispatcher.dispatch(request)
        except Exception as exc:
            failure = _serving.failure_of(exc, self.target)
        finally:
            if not request.is_call:
                request.acknowledge()
        return result, failure

    def _reply(
        self,
        reply_q: str,
        msg_id: str,
        result: Any,
        failure: BaseException | None,
        ending: bool = True,
    ) -> bool:
        """Send a reply (or a keep-alive); returns whether the driver took it."""
        transport = self.transport
        body = _serving.encode_reply(msg_id, result, failure, ending, transport.max_message_size)
        try:
            transport.driver.send_reply(reply_q, body)
        except Exception as exc:
            LOG.error("Could not send the reply to %s on %s: %s", msg_id, reply_q, exc)
            return False
        return True


def get_rpc_server(
    transport: Transport,
    target: Target,
    endpoints: list[Any],
    executor: str | None = None,
    serializer: Serializer | None = None,
    access_policy: RPCAccessPolicyBase | type[RPCAccessPolicyBase] | None = None,
    server_cls: type[RPCServer] = RPCServer,
) -> RPCServer:
    """Build an RPC server for ``endpoints`` on ``target`` (topic and server required).

    ``executor`` is ``"threading"`` or ``"eventlet"`` (default: ``"eventlet"`` in a process
    whose threads eventlet patched, else ``"threading"``); ``access_policy`` defaults to
    :class:`~rpcmsg.rpc.dispatcher.DefaultRPCAccessPolicy`. The ping endpoint is added when
    ``rpc_ping_enabled`` is set in the transport's configuration or in ``cfg.CONF``.
    """
    dispatcher = RPCDispatcher(
        endpoints,
        serializer,
        access_policy,
        ping_enabled=True if transport.conf.rpc_ping_enabled else None,
    )
    return server_cls(transport, target, dispatcher, executor)
