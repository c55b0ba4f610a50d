"""RPCServer: consumes a target's requests, dispatches them, replies to calls."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from rpcmsg import _wire
from rpcmsg._remote import serialize_failure
from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.exceptions import ExpectedException, InvalidTarget, RPCDispatcherError
from rpcmsg.rpc.dispatcher import (
    IncomingRequest,
    RPCAccessPolicyBase,
    RPCDispatcher,
    expected_exceptions,
    expose,
)
from rpcmsg.serializer import Serializer
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import Transport

__all__ = ["RPCServer", "expected_exceptions", "expose", "get_rpc_server"]

LOG = logging.getLogger(__name__)

_DEDUP_CACHE = 4096


class _Heartbeat:
    """Sends keep-alive replies for a monitored call until stopped.

    ``send`` returns whether the keep-alive went out. A failed one is tried again after a
    quarter of the interval rather than a whole one, so that one lost keep-alive does not
    leave the caller a whole call monitor timeout without news, and keep-alives go on
    whatever happens to one of them.
    """

    def __init__(self, send: Callable[[], bool], interval: float) -> None:
        self._send = send
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rpcmsg-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wait = self._interval
        while not self._done.wait(wait):
            try:
                sent = self._send()
            except Exception as exc:
                LOG.warning("Could not send a call keep-alive: %s", exc)
                sent = False
            wait = self._interval if sent else self._interval / 4

    def stop(self) -> None:
        self._done.set()


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
        executor: str | None = "threading",
    ) -> None:
        super().__init__(transport, dispatcher, executor)
        self.target = target
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()

    def _create_listener(self) -> Listener:
        target = self.target
        if not target.topic or not target.server:
            raise InvalidTarget("A server's target must have topic and server names", target)
        full = target(exchange=self.transport._require_exchange(target.exchange))
        return self.transport.driver.listen(full)

    def _duplicate(self, unique_id: Any) -> bool:
        if not isinstance(unique_id, str):
            return False
        with self._seen_lock:
            if unique_id in self._seen:
                return True
            self._seen[unique_id] = None
            if len(self._seen) > _DEDUP_CACHE:
                self._seen.popitem(last=False)
        return False

    def _process(self, incoming: IncomingMessage) -> None:
        try:
            message = _wire.decode(incoming.body)
        except _wire.MalformedMessage as exc:
            LOG.error("Dropping a malformed request on %s: %s", self.target, exc)
            incoming.reject()
            return
        msg_id = message.pop("_msg_id", None)
        reply_q = message.pop("_reply_q", None)
        monitor = message.pop("_timeout", None)
        is_call = bool(msg_id and reply_q)
        if self._duplicate(message.pop("_unique_id", None)):
            LOG.info("Dropping a duplicate delivery of a request on %s", self.target)
            incoming.ack()
            return
        if is_call:
            incoming.ack()
        ctxt = _wire.unpack_context(message)
        heartbeat = None
        if is_call and isinstance(monitor, (int, float)) and monitor > 0:
            heartbeat = _Heartbeat(
                lambda: self._reply(reply_q, msg_id, None, None, ending=False), monitor / 2.0
            )
        result: Any = None
        failure: BaseException | None = None
        try:
            result = self.dispatcher.dispatch(IncomingRequest(ctxt, message))
        except ExpectedException as exc:
            failure = exc.exc_info[1]
            LOG.debug("Expected exception during message handling (%s)", failure)
        except RPCDispatcherError as exc:
            failure = exc
            LOG.warning("Rejected request on %s: %s", self.target, exc)
        except Exception as exc:
            failure = exc
            LOG.exception("Exception during message handling")
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            if not is_call:
                incoming.ack()
        if is_call:
            self._reply(reply_q, msg_id, result, failure)

    def _reply(
        self,
        reply_q: str,
        msg_id: str,
        result: Any,
        failure: BaseException | None,
        ending: bool = True,
    ) -> bool:
        """Send a reply (or a keep-alive); returns whether the driver took it."""
        reply = {
            "result": result,
            "failure": serialize_failure(failure) if failure is not None else None,
            "ending": ending,
            "_msg_id": msg_id,
            "_unique_id": _wire.new_id(),
        }
        try:
            body = _wire.encode(reply)
        except (TypeError, ValueError) as exc:
            # The result is not JSON: tell the caller rather than let it time out.
            LOG.error("Reply to %s is not serializable: %s", msg_id, exc)
            bad = TypeError(f"The RPC result could not be serialized: {exc}")
            reply["result"] = None
            reply["failure"] = serialize_failure(bad)
            body = _wire.encode(reply)
        try:
            self.transport.driver.send_reply(reply_q, body)
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

    ``executor`` is ``"threading"`` (the default) or ``"eventlet"``; ``access_policy``
    defaults to :class:`~rpcmsg.rpc.dispatcher.DefaultRPCAccessPolicy`.
    """
    dispatcher = RPCDispatcher(
        endpoints,
        serializer,
        access_policy,
        ping_enabled=bool(transport.conf.rpc_ping_enabled),
    )
    return server_cls(transport, target, dispatcher, executor or "threading")
