"""``oslo_messaging.rpc.transport``: where oslo.messaging defines :func:`get_rpc_transport`."""

from __future__ import annotations

from rpcmsg.transport import get_rpc_transport

__all__ = ["get_rpc_transport"]
