"""RPCClient: calls and casts to a target, with per-call options via ``prepare()``."""

from __future__ import annotations

import logging
from typing import Any

from rpcmsg import _wire
from rpcmsg.exceptions import (
    ClientSendError,
    InvalidTarget,
    RemoteError,
    RPCVersionCapError,
    TransportDriverError,
)
from rpcmsg.rpc.dispatcher import version_is_compatible
from rpcmsg.serializer import NoOpSerializer, Serializer
from rpcmsg.target import Target
from rpcmsg.transport import Transport, TransportOptions

__all__ = [
    "ClientSendError",
    "RPCClient",
    "RPCVersionCapError",
    "RemoteError",
    "get_rpc_client",
]

LOG = logging.getLogger(__name__)


class _Marker:
    def __repr__(self) -> str:
        return "<unset>"


_marker: Any = _Marker()


class _CallContext:
    """The client state every call and cast uses; ``prepare()`` returns a modified copy."""

    def __init__(
        self,
        transport: Transport,
        target: Target,
        serializer: Serializer | None,
        timeout: float | None = None,
        version_cap: str | None = None,
        retry: int | None = None,
        call_monitor_timeout: float | None = None,
        transport_options: TransportOptions | None = None,
    ) -> None:
        self.conf = transport.conf
        self.transport = transport
        self.target = target
        self.serializer = serializer or NoOpSerializer()
        self.timeout = timeout
        self.version_cap = version_cap
        self.retry = retry
        self.call_monitor_timeout = call_monitor_timeout
        self.transport_options = transport_options

    def prepare(
        self,
        exchange: str | None = _marker,
        topic: str | None = _marker,
        namespace: str | None = _marker,
        version: str | None = _marker,
        server: str | None = _marker,
        fanout: bool | None = _marker,
        timeout: float | None = _marker,
        version_cap: str | None = _marker,
        retry: int | None = _marker,
        call_monitor_timeout: float | None = _marker,
        transport_options: TransportOptions | None = _marker,
    ) -> _CallContext:
        """Return a client context with the given target attributes and options replaced."""
        changes = {
            k: v
            for k, v in (
                ("exchange", exchange),
                ("topic", topic),
                ("namespace", namespace),
                ("version", version),
                ("server", server),
                ("fanout", fanout),
            )
            if v is not _marker
        }
        target = self.target(**changes) if changes else self.target

        def pick(value: Any, current: Any) -> Any:
            return current if value is _marker else value

        return _CallContext(
            self.transport,
            target,
            self.serializer,
            pick(timeout, self.timeout),
            pick(version_cap, self.version_cap),
            pick(retry, self.retry),
            pick(call_monitor_timeout, self.call_monitor_timeout),
            pick(transport_options, self.transport_options),
        )

    def can_send_version(self, version: str | None = _marker) -> bool:
        """True when ``version`` (default: the target's) is within the version cap."""
        version = self.target.version if version is _marker else version
        return not self.version_cap or version_is_compatible(self.version_cap, version or "1.0")

    def _check_version_cap(self, version: str | None) -> None:
        if self.version_cap and not version_is_compatible(self.version_cap, version or "1.0"):
            raise RPCVersionCapError(version=version or "1.0", version_cap=self.version_cap)

    def _make_message(self, ctxt: Any, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        serializer = self.serializer
        message: dict[str, Any] = {
            "method": method,
            "args": {k: serializer.serialize_entity(ctxt, v) for k, v in kwargs.items()},
        }
        target = self.target
        if target.namespace is not None:
            message["namespace"] = target.namespace
        if target.version is not None:
            message["version"] = target.version
        message["_unique_id"] = _wire.new_id()
        _wire.pack_context(message, serializer.serialize_context(ctxt))
        return message

    def _encode(self, message: dict[str, Any]) -> bytes:
        try:
            return _wire.encode(message)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"RPC {message.get('method')!r} has a context or argument JSON cannot carry: {exc}"
            ) from exc

    def _send(self, target: Target, body: bytes, expiration: float | None = None) -> None:
        options = self.transport_options
        try:
            self.transport.driver.send(
                target,
                body,
                expiration=expiration,
                retry=self.retry,
                mandatory=bool(options and options.at_least_once),
            )
        except TransportDriverError as exc:
            raise ClientSendError(target, exc) from exc

    def _full_target(self) -> Target:
        target = self.target
        if not target.topic:
            raise InvalidTarget("A target with a topic is required to send", target)
        if target.exchange:
            return target
        return target(exchange=self.transport._require_exchange(None))

    def cast(self, ctxt: Any, method: str, **kwargs: Any) -> None:
        """Send ``method(ctxt, **kwargs)`` without waiting for it to run.

        Returns once the transport took the message; with ``fanout=True`` every server of
        the topic runs it, with ``server`` set only that one, otherwise one of the topic's
        servers does.
        """
        self._check_version_cap(self.target.version)
        message = self._make_message(ctxt, method, kwargs)
        self._send(self._full_target(), self._encode(message))

    def call(self, ctxt: Any, method: str, **kwargs: Any) -> Any:
        """Invoke ``method(ctxt, **kwargs)`` on one server and return its result.

        Raises what the remote method raised (rebuilt when allowed, else ``RemoteError``),
        ``MessagingTimeout`` when no reply arrives within ``timeout`` (default
        ``rpc_response_timeout``) or, with ``call_monitor_timeout``, when the server stops
        sending keep-alives, and ``InvalidTarget`` for a fanout target.
        """
        target = self._full_target()
        if target.fanout:
            raise InvalidTarget("A call cannot be sent to a fanout target", target)
        self._check_version_cap(target.version)
        timeout = self.timeout if self.timeout is not None else self.conf.rpc_response_timeout
        message = self._make_message(ctxt, method, kwargs)
        replies = self.transport._replies
        msg_id = _wire.new_id()
        message["_msg_id"] = msg_id
        message["_reply_q"] = replies.address
        if self.call_monitor_timeout:
            message["_timeout"] = self.call_monitor_timeout
        body = self._encode(message)
        q = replies.register(msg_id)
        try:
            self._send(target, body, expiration=timeout)
            result = replies.wait(msg_id, q, timeout, self.call_monitor_timeout)
        finally:
            replies.unregister(msg_id)
        return self.serializer.deserialize_entity(ctxt, result)


class RPCClient(_CallContext):
    """A client for the servers of ``target``.

    ``timeout`` bounds calls (default ``rpc_response_timeout``), ``version_cap`` bounds the
    versions sent, ``retry`` bounds send retries (None: for ever, 0: never),
    ``call_monitor_timeout`` enables keep-alives for long calls. Thread-safe.
    """

    def __init__(
        self,
        transport: Transport,
        target: Target,
        timeout: float | None = None,
        version_cap: str | None = None,
        serializer: Serializer | None = None,
        retry: int | None = None,
        call_monitor_timeout: float | None = None,
        transport_options: TransportOptions | None = None,
        _manual_load: bool = True,
    ) -> None:
        super().__init__(
            transport,
            target,
            serializer,
            timeout,
            version_cap,
            retry,
            call_monitor_timeout,
            transport_options,
        )


def get_rpc_client(transport: Transport, target: Target, **kwargs: Any) -> RPCClient:
    """Build an :class:`RPCClient`; keyword arguments are the client's options."""
    return RPCClient(transport, target, _manual_load=False, **kwargs)
