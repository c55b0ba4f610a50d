"""The async server's introspection endpoint: :mod:`rpcmsg._introspect` with an awaited cast."""

from __future__ import annotations

from typing import Any

from rpcmsg._introspect import REPORT_METHOD, reply_target

__all__ = ["AsyncIntrospectionEndpoint"]


class AsyncIntrospectionEndpoint:
    """Answers ``rpcmsg_introspect`` for an async server, on the loop."""

    rpcmsg_internal = True

    def __init__(self, server: Any) -> None:
        self._server = server

    async def rpcmsg_introspect(self, ctxt: Any, reply_to: Any = None) -> dict[str, Any] | None:
        description: dict[str, Any] = self._server._describe()
        if reply_to is None:
            return description
        from rpcmsg.asyncio._client import get_rpc_client

        client = get_rpc_client(self._server.transport, reply_target(reply_to))
        await client.cast({}, REPORT_METHOD, server=description)
        return None
