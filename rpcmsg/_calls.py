"""The client's half of the RPC protocol, without I/O: shared by the sync and async clients.

A request is built in two steps: :func:`request` (ids and context, for calls and casts) then,
for a call, :func:`address_call` (``_msg_id``, ``_reply_q`` and the call monitor's
``_timeout``); :func:`encode` turns it into the body a driver sends, refusing what JSON
cannot carry and what is over ``max_message_size``. A call's replies are read by a
:class:`ReplyReader`: keep-alives push the call monitor's deadline back, a failure is
rebuilt from its description (:mod:`rpcmsg._remote`), the final reply gives the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rpcmsg import _wire
from rpcmsg._remote import deserialize_failure
from rpcmsg.exceptions import InvalidTarget, MessagingTimeout

if TYPE_CHECKING:
    from rpcmsg.target import Target

__all__ = [
    "ReplyReader",
    "address_call",
    "check_target",
    "encode",
    "request",
    "timed_out",
]


def check_target(target: Target, call: bool) -> None:
    """``InvalidTarget`` for a target without topic, or a call to a fanout target."""
    if not target.topic:
        raise InvalidTarget("A topic is required to send", target)
    if call and target.fanout:
        raise InvalidTarget("A call cannot be sent to a fanout target", target)


def request(message: dict[str, Any], ctxt: Any) -> dict[str, Any]:
    """A copy of the client's ``message`` with a fresh ``_unique_id`` and ``ctxt`` flattened
    in as ``_context_*`` entries."""
    message = dict(message)
    message["_unique_id"] = _wire.new_id()
    _wire.pack_context(message, ctxt)
    return message


def address_call(message: dict[str, Any], reply_q: str, call_monitor_timeout: float | None) -> str:
    """Make ``message`` a call replying to ``reply_q``; returns its new ``_msg_id``."""
    msg_id = _wire.new_id()
    message["_msg_id"] = msg_id
    message["_reply_q"] = reply_q
    if call_monitor_timeout:
        message["_timeout"] = call_monitor_timeout
    return msg_id


def encode(message: dict[str, Any], limit: int, what: str) -> bytes:
    """The body of a request; ``TypeError`` when JSON cannot carry it,
    ``MessageDeliveryFailure`` when it is longer than ``limit`` bytes (nothing is sent)."""
    try:
        body = _wire.encode(message)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"RPC {message.get('method')!r} has a context or argument JSON cannot carry: {exc}"
        ) from exc
    return _wire.check_size(body, limit, what)


def timed_out(msg_id: str, by_monitor: bool) -> MessagingTimeout:
    """The error of a call whose deadline (or call monitor deadline) passed."""
    reason = (
        "no keep-alive from the server within the call monitor timeout"
        if by_monitor
        else "timed out"
    )
    return MessagingTimeout(f"Timed out waiting for a reply to message ID {msg_id} ({reason})")


class ReplyReader:
    """Reads the replies of one call, in order: :meth:`feed` each one.

    ``feed`` returns True once the final reply is in (its result in ``result``), False for
    a keep-alive, and raises the remote exception a failure describes (rebuilt as its own
    class only for ``allowed`` modules). A keep-alive carrying a result (old servers send
    the result ahead of its ending) keeps it for the final reply.
    """

    __slots__ = ("_allowed", "_pending", "result")

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = allowed
        self._pending: Any = None
        self.result: Any = None

    def feed(self, message: dict[str, Any]) -> bool:
        failure = message.get("failure")
        if failure:
            raise deserialize_failure(failure, self._allowed)
        result = message.get("result")
        if message.get("ending", True) is False:
            if result is not None:
                self._pending = result
            return False
        self.result = self._pending if result is None else result
        return True
