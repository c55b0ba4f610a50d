"""How settlements are written to Redis.

An ack is ``XACK`` + ``XDEL``: each stream has a single group, so an acknowledged entry is
garbage. A requeue adds a copy marked redelivered (field ``r``) at the end of the stream and
acknowledges the original, in one transaction. A call request taken from a list
(:mod:`rpcmsg_drivers.redis.calls`) has nothing to acknowledge; giving it back pushes it
onto the head of its list again.

``IncomingMessage.ack`` must never block, and on the call path a round trip of its own would
cost as much as the request itself. So a listener collects acks and its reader writes them in
the same pipeline as its next ``XREADGROUP``. Until they are written the entries stay pending
(and are kept fresh by the listener's beat); if the process dies first they are delivered
again, which is the at-least-once contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rpcmsg_drivers.redis.framing import frame_call
from rpcmsg_drivers.redis.keys import GROUP

__all__ = ["Settlement", "queue_settlements"]


@dataclass(frozen=True)
class Settlement:
    """One entry to acknowledge, or (with ``requeue``) to put back at the end of its stream."""

    stream: str
    entry_id: str
    requeue: bool = False
    body: bytes = b""
    content_type: str = ""
    expires: str = ""
    listed: bool = False


def queue_settlements(pipe: Any, settlements: list[Settlement]) -> None:
    """Add the commands writing ``settlements`` to the redis-py pipeline ``pipe``."""
    for item in settlements:
        if item.listed:
            if item.requeue:
                pipe.lpush(item.stream, frame_call(item.body, item.content_type, item.expires))
            continue
        if item.requeue:
            fields: dict[str, bytes | str] = {"b": item.body, "c": item.content_type, "r": "1"}
            if item.expires:
                fields["e"] = item.expires
            # No cap: the copy replaces the original, deleted below.
            pipe.xadd(item.stream, fields)
        pipe.xack(item.stream, GROUP, item.entry_id)
        pipe.xdel(item.stream, item.entry_id)
