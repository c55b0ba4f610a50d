"""DispatcherBase: what a server hands each incoming message to (``oslo_messaging.dispatcher``).

A server calls ``dispatcher.dispatch(incoming)`` once per message it took. What ``incoming``
is depends on the server: an RPC server passes an object with ``ctxt`` and ``message`` (and
``reply``, ``heartbeat``, ``client_timeout`` ...), a notification listener its notification.
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["DispatcherBase"]


class DispatcherBase(abc.ABC):
    """The base of :class:`~rpcmsg.rpc.dispatcher.RPCDispatcher` and the notification
    dispatchers."""

    @abc.abstractmethod
    def dispatch(self, incoming: Any) -> Any:
        """Hand ``incoming`` to the endpoint it is for and return what the endpoint returned.

        Called in a server worker, once per message; raises what the endpoint raised.
        """
