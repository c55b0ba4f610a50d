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

__all__ = ["Settlement", "queue_settlements", "settlement_commands"]


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


def settlement_commands(settlements: list[Settlement]) -> list[tuple[bytes | str, ...]]:
    """The Redis commands writing ``settlements``, in order."""
    commands: list[tuple[bytes | str, ...]] = []
    for item in settlements:
        if item.listed:
            if item.requeue:
                value = frame_call(item.body, item.content_type, item.expires)
                commands.append(("LPUSH", item.stream, value))
            continue
        if item.requeue:
            fields: list[bytes | str] = ["b", item.body, "c", item.content_type, "r", "1"]
            if item.expires:
                fields += ["e", item.expires]
            # No cap: the copy replaces the original, deleted below.
            commands.append(("XADD", item.stream, "*", *fields))
        commands.append(("XACK", item.stream, GROUP, item.entry_id))
        commands.append(("XDEL", item.stream, item.entry_id))
    return commands


def queue_settlements(pipe: Any, settlements: list[Settlement]) -> None:
    """Add the commands writing ``settlements`` to the redis-py pipeline ``pipe``."""
    for command in settlement_commands(settlements):
        pipe.execute_command(*command)
