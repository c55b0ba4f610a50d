"""The async RPC client: ``await client.call(...)`` and ``await client.cast(...)``.

Options, ``prepare()``, version caps and message building are the sync client's
(:class:`rpcmsg.rpc.client._ClientCore`); only the sending is awaited. Any number of calls
may be in flight from one event loop: each is a future in the transport's reply waiter,
keyed by its ``_msg_id``, with no lock.
"""

from __future__ import annotations

import logging
from typing import Any

from rpcmsg.asyncio._transport import AsyncNotificationTransport, AsyncTransport
from rpcmsg.exceptions import ClientSendError, TransportDriverError
from rpcmsg.rpc.client import _ClientCore, _marker
from rpcmsg.serializer import Serializer
from rpcmsg.target import Target
from rpcmsg.transport import TransportOptions

__all__ = ["RPCClient", "get_rpc_client"]

LOG = logging.getLogger("rpcmsg.rpc.client")


class _AsyncCallContext(_ClientCore["_AsyncCallContext"]):
    """The client state of async calls and casts; ``prepare()`` returns a modified copy."""

    transport: AsyncTransport

    def _context(self, *args: Any) -> _AsyncCallContext:
        return _AsyncCallContext(*args)

    async def cast(self, ctxt: Any, method: str, **kwargs: Any) -> None:
        """Send ``method(ctxt, **kwargs)`` without waiting for it to run; as the sync
        client's ``cast`` (same errors), returning once the driver took the message."""
        message, msg_ctxt = self._request(ctxt, method, kwargs, False)
        try:
            await self.transport._send(
                self.target,
                msg_ctxt,
                message,
                retry=self.retry,
                transport_options=self.transport_options,
            )
        except TransportDriverError as exc:
            raise ClientSendError(self.target, exc) from exc

    async def call(self, ctxt: Any, method: str, **kwargs: Any) -> Any:
        """Invoke ``method(ctxt, **kwargs)`` on one server and return its result; as the
        sync client's ``call`` (the remote exception, ``MessagingTimeout`` after
        ``timeout`` or a silent call monitor, ``InvalidTarget``, ``RPCVersionCapError``).

        Cancellable: cancelling the awaiting task, or an ``asyncio.timeout()`` around it,
        drops the call's reply waiter and leaves the client usable.
        """
        message, msg_ctxt = self._request(ctxt, method, kwargs, True)
        try:
            result = await self.transport._send(
                self.target,
                msg_ctxt,
                message,
                wait_for_reply=True,
                timeout=self.call_timeout(),
                call_monitor_timeout=self.call_monitor_timeout,
                retry=self.retry,
                transport_options=self.transport_options,
            )
        except TransportDriverError as exc:
            raise ClientSendError(self.target, exc) from exc
        return self.serializer.deserialize_entity(ctxt, result)


class RPCClient(_AsyncCallContext):
    """An async client for the servers of ``target``; options as the sync
    :class:`rpcmsg.RPCClient`. Use it from the event loop its transport belongs to."""

    def __init__(
        self,
        transport: AsyncTransport,
        target: Target,
        timeout: float | None = None,
        version_cap: str | None = None,
        serializer: Serializer | None = None,
        retry: int | None = None,
        call_monitor_timeout: float | None = None,
        transport_options: TransportOptions | None = None,
    ) -> None:
        if isinstance(transport, AsyncNotificationTransport):
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
        ``MessagingException`` for a malformed version."""
        return self.prepare(version=version).can_send_version()


def get_rpc_client(
    transport: AsyncTransport,
    target: Target,
    client_cls: type[RPCClient] = RPCClient,
    **kwargs: Any,
) -> RPCClient:
    """Build an async ``client_cls`` (default :class:`RPCClient`)."""
    return client_cls(transport, target, **kwargs)
