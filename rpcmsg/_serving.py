"""The server's half of the RPC protocol, without I/O: shared by the sync and async servers.

:func:`parse_request` reads a request body into a :class:`Request` (the ids and the reply
address taken out, the context left for the server to unpack), :class:`DuplicateFilter`
drops a ``_unique_id`` already handled, :func:`failure_of` turns what dispatching raised
into the failure to send (logging it as the sync server always has), :func:`encode_reply`
builds a reply or keep-alive body (a result JSON cannot carry, or over ``max_message_size``,
becomes a failure the caller gets rather than a timeout).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from rpcmsg import _wire
from rpcmsg._remote import serialize_failure
from rpcmsg.exceptions import (
    ExpectedException,
    MessageDeliveryFailure,
    NoSuchMethod,
    RPCDispatcherError,
)

__all__ = [
    "DEDUP_CACHE",
    "DuplicateFilter",
    "Request",
    "encode_reply",
    "failure_of",
    "heartbeat_wait",
    "parse_request",
]

LOG = logging.getLogger("rpcmsg.rpc.server")

#: How many ``_unique_id``s a server remembers to drop duplicate deliveries.
DEDUP_CACHE = 4096


class Request:
    """A decoded request: ``message`` (``method``, ``args``, ``namespace``, ``version`` and
    the ``_context_*`` entries), ``msg_id`` and ``reply_q`` (None for a cast),
    ``client_timeout`` (the caller's call monitor timeout, None when not asked for or not a
    call) and ``unique_id``."""

    __slots__ = ("client_timeout", "message", "msg_id", "reply_q", "unique_id")

    def __init__(self, message: dict[str, Any]) -> None:
        self.msg_id: str | None = message.pop("_msg_id", None)
        self.reply_q: str | None = message.pop("_reply_q", None)
        monitor = message.pop("_timeout", None)
        if not isinstance(monitor, (int, float)) or isinstance(monitor, bool) or monitor <= 0:
            monitor = None
        self.client_timeout: float | None = monitor if self.msg_id else None
        self.unique_id: Any = message.pop("_unique_id", None)
        self.message = message

    @property
    def is_call(self) -> bool:
        return bool(self.msg_id and self.reply_q)


def parse_request(body: bytes, limit: int) -> Request:
    """The request in ``body``; raises ``_wire.MalformedMessage``."""
    return Request(_wire.decode(body, limit))


class DuplicateFilter:
    """Remembers the last :data:`DEDUP_CACHE` ``_unique_id``s seen. Thread-safe."""

    def __init__(self, size: int = DEDUP_CACHE) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, unique_id: Any) -> bool:
        """True when ``unique_id`` was seen before (a duplicate); records it otherwise."""
        if not isinstance(unique_id, str):
            return False
        with self._lock:
            if unique_id in self._seen:
                return True
            self._seen[unique_id] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return False


def failure_of(exc: Exception, where: Any) -> BaseException:
    """The exception a caller gets for ``exc`` raised while dispatching, logged by kind:
    an expected exception at debug level, a rejected request as a warning, anything else
    with its traceback."""
    if isinstance(exc, ExpectedException):
        failure: BaseException = exc.exc_info[1]
        LOG.debug("Expected exception during message handling (%s)", failure)
        return failure
    if isinstance(exc, NoSuchMethod):
        if exc.method.endswith("_ignore_errors"):
            LOG.debug("Method %s not found", exc.method)
        else:
            LOG.warning("Rejected request on %s: %s", where, exc)
        return exc
    if isinstance(exc, RPCDispatcherError):
        LOG.warning("Rejected request on %s: %s", where, exc)
        return exc
    LOG.error("Exception during message handling", exc_info=exc)
    return exc


def encode_reply(
    msg_id: str, result: Any, failure: BaseException | None, ending: bool, limit: int
) -> bytes:
    """The body of a reply (``ending=False``: a keep-alive)."""
    reply = {
        "result": result,
        "failure": serialize_failure(failure) if failure is not None else None,
        "ending": ending,
        "_msg_id": msg_id,
        "_unique_id": _wire.new_id(),
    }
    try:
        return _wire.check_size(_wire.encode(reply), limit, "the reply")
    except (TypeError, ValueError, MessageDeliveryFailure) as exc:
        # The result is not JSON, or too large: tell the caller rather than let it time out.
        LOG.error("Reply to %s cannot be sent: %s", msg_id, exc)
        bad: Exception = (
            exc
            if isinstance(exc, MessageDeliveryFailure)
            else TypeError(f"The RPC result could not be serialized: {exc}")
        )
        reply["result"] = None
        reply["failure"] = serialize_failure(bad)
        return _wire.encode(reply)


def heartbeat_wait(interval: float, sent: bool | None) -> float:
    """How long to wait before the next keep-alive: ``interval`` after one that was sent, a
    quarter of it after one the driver did not take (``sent`` False), so that one lost
    keep-alive does not leave the caller a whole call monitor timeout without news."""
    return interval / 4 if sent is False else interval
