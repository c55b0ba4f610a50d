"""RPCClient: calls and casts to a target, with per-call options via ``prepare()``."""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar

from rpcmsg.exceptions import (
    ClientSendError,
    InvalidTarget,
    MessagingException,
    RemoteError,
    RPCVersionCapError,
    TransportDriverError,
)
from rpcmsg.serializer import NoOpSerializer, Serializer
from rpcmsg.target import Target
from rpcmsg.transport import RPCTransport, Transport, TransportOptions

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


def _version_parts(version: str) -> tuple[int, int, int]:
    """``major.minor[.revision]`` as integers; raises ValueError for anything else."""
    parts = version.split(".")
    if len(parts) < 2:
        raise ValueError(f"version {version!r} has no minor number")
    revision = int(parts[2]) if len(parts) > 2 else 0
    return int(parts[0]), int(parts[1]), revision


def _within_cap(version_cap: str | None, version: str | None) -> bool:
    """oslo.messaging's rule: no cap allows everything, a cap allows no versionless message,
    else the same major and a minor (then revision) no higher than the cap's."""
    if not version_cap:
        return True
    if version is None:
        return False
    cap = _version_parts(version_cap)
    wanted = _version_parts(version)
    return wanted[0] == cap[0] and wanted[1:] <= cap[1:]


def _check_version(version: Any) -> None:
    if version is _marker or version is None:
        return
    try:
        _version_parts(version)
    except (ValueError, AttributeError):
        raise MessagingException(
            f"Version must contain a major and minor integer. Got {version}"
        ) from None


C = TypeVar("C", bound="_ClientCore[Any]")


class _ClientCore(Generic[C]):
    """What the sync and async clients share: options, ``prepare()``, version caps and
    message building; ``prepare()`` returns a modified copy (a ``C``). Subclasses add
    ``call`` and ``cast`` doing the I/O."""

    def __init__(
        self,
        transport: Any,
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
    ) -> C:
        """Return a client context with the given target attributes and options replaced.

        Raises ``MessagingException`` for a ``version`` that is not ``major.minor[.rev]``.
        """
        _check_version(version)
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

        return self._context(
            self.transport,
            target,
            self.serializer,
            pick(timeout, self.timeout),
            pick(version_cap, self.version_cap),
            pick(retry, self.retry),
            pick(call_monitor_timeout, self.call_monitor_timeout),
            pick(transport_options, self.transport_options),
        )

    def _context(self, *args: Any) -> C:
        """A context of this client's kind built from ``_ClientCore``'s arguments."""
        raise NotImplementedError

    def call_timeout(self) -> float | None:
        """A call's timeout: the client's, else ``rpc_response_timeout``."""
        return self.timeout if self.timeout is not None else self.conf.rpc_response_timeout

    def can_send_version(self, version: str | None = _marker) -> bool:
        """True when ``version`` (default: the target's) is within the version cap.

        Without a cap every version can be sent; with one, a message without a version
        (``None``) cannot, as in oslo.messaging.
        """
        version = self.target.version if version is _marker else version
        return _within_cap(self.version_cap, version)

    def _check_version_cap(self, version: str | None) -> None:
        if not _within_cap(self.version_cap, version):
            raise RPCVersionCapError(version=version, version_cap=self.version_cap)

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
        return message

    def _request(self, ctxt: Any, method: str, kwargs: dict[str, Any], call: bool) -> Any:
        """The message and serialized context of a call or cast, checked against the target
        (``InvalidTarget`` for a call to fanout) and the version cap."""
        if call and self.target.fanout:
            raise InvalidTarget("A call cannot be used with fanout", self.target)
        message = self._make_message(ctxt, method, kwargs)
        msg_ctxt = self.serializer.serialize_context(ctxt)
        self._check_version_cap(message.get("version"))
        return message, msg_ctxt


class _CallContext(_ClientCore["_CallContext"]):
    """The client state every call and cast uses; ``prepare()`` returns a modified copy."""

    transport: Transport

    def _context(self, *args: Any) -> _CallContext:
        return _CallContext(*args)

    def cast(self, ctxt: Any, method: str, **kwargs: Any) -> None:
        """Send ``method(ctxt, **kwargs)`` without waiting for it to run.

        Returns once the transport took the message; with ``fanout=True`` every server of
        the topic runs it, with ``server`` set only that one, otherwise one of the topic's
        servers does. Raises ``RPCVersionCapError`` when the target's version is not within
        ``version_cap``, ``InvalidTarget`` without a topic, ``ClientSendError`` when the
        transport fails to send.
        """
        message, msg_ctxt = self._request(ctxt, method, kwargs, False)
        try:
            self.transport._send(
                self.target,
                msg_ctxt,
                message,
                retry=self.retry,
                transport_options=self.transport_options,
            )
        except TransportDriverError as exc:
            raise ClientSendError(self.target, exc) from exc

    def call(self, ctxt: Any, method: str, **kwargs: Any) -> Any:
        """Invoke ``method(ctxt, **kwargs)`` on one server and return its result.

        Raises what the remote method raised (rebuilt when allowed, else ``RemoteError``),
        ``MessagingTimeout`` when no reply arrives within ``timeout`` (default
        ``rpc_response_timeout``) or, with ``call_monitor_timeout``, when the server stops
        sending keep-alives, ``InvalidTarget`` for a fanout target or one without a topic,
        and ``RPCVersionCapError`` as :meth:`cast` does.
        """
        message, msg_ctxt = self._request(ctxt, method, kwargs, True)
        timeout = self.call_timeout()
        try:
            result = self.transport._send(
                self.target,
                msg_ctxt,
                message,
                wait_for_reply=True,
                timeout=timeout,
                call_monitor_timeout=self.call_monitor_timeout,
                retry=self.retry,
                transport_options=self.transport_options,
            )
        except TransportDriverError as exc:
            raise ClientSendError(self.target, exc) from exc
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
        if _manual_load:
            LOG.warning(
                "Using RPCClient manually to instantiate client. "
                "Please use get_rpc_client to obtain an RPC client instance."
            )
        if not isinstance(transport, RPCTransport):
            LOG.warning(
                "Using notification transport for RPC. Please use "
                "get_rpc_transport to obtain an RPC transport instance."
            )
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

    def can_send_version(self, version: str | None = _marker) -> bool:
        """True when ``version`` (default: the target's) is within the version cap; raises
        ``MessagingException`` for a malformed version, as ``prepare(version=...)`` does."""
        return self.prepare(version=version).can_send_version()


def get_rpc_client(
    transport: Transport,
    target: Target,
    client_cls: type[RPCClient] = RPCClient,
    **kwargs: Any,
) -> RPCClient:
    """Build a ``client_cls`` (default :class:`RPCClient`); keyword arguments are the
    client's options."""
    return client_cls(transport, target, _manual_load=False, **kwargs)
