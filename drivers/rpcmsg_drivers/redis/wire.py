"""What the Redis drivers write and read, without I/O: shared by the sync driver and its
asyncio twin (:mod:`rpcmsg_drivers.aioredis`), so that both use the same keys, scripts,
script arguments and entry fields, and a sync and an async process on one Redis talk.

* ``request`` / ``notification`` / ``reply``: the script, keys and arguments of a publish
  (:class:`Publish`); ``check_room`` reads its result.
* ``server_plan`` / ``notification_plan``: the streams, routes and call lists a listener
  consumes (:class:`ListenPlan`).
* ``read_reply`` / ``entries_of``: the entries of an ``XREADGROUP`` or ``XCLAIM`` reply.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rpcmsg.exceptions import MessageDeliveryFailure
from rpcmsg.target import Target
from rpcmsg_drivers.redis.framing import frame_call, frame_reply
from rpcmsg_drivers.redis.inbox import Entry
from rpcmsg_drivers.redis.keys import GROUP, Keys

__all__ = [
    "FORGET_AFTER",
    "MAX_BEAT",
    "ListenPlan",
    "Publish",
    "Route",
    "check_body",
    "check_room",
    "entries_of",
    "notification",
    "notification_plan",
    "read_reply",
    "reply",
    "request",
    "server_plan",
    "text",
]

LOG = logging.getLogger(__name__)

#: Seconds between two beats of a stream reader at most (a dead consumer's messages wait
#: this long).
MAX_BEAT = 5.0

#: Idle consumers with nothing pending are forgotten after this many claim idle times.
FORGET_AFTER = 10

Arg = bytes | str | int


@dataclass(frozen=True)
class Publish:
    """One publish: run the script named ``script`` (:data:`scripts.SOURCES`) with ``keys``
    and ``args``; ``doing`` describes it in errors."""

    script: str
    keys: list[str]
    args: list[Arg]
    doing: str


def now_ms() -> int:
    return int(time.time() * 1000)


def check_body(body: bytes) -> None:
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError(f"message bodies are bytes, not {type(body).__name__}")


def request(
    keys: Keys,
    target: Target,
    body: bytes,
    content_type: str,
    expiration: float | None,
    maxlen: int,
) -> Publish:
    """An RPC request: a fanout copy to every live route, a call (``expiration`` set) to the
    call list, or a cast to the stream of the topic or server."""
    topic = target.topic or ""
    if target.fanout:
        return Publish(
            "fanout",
            [keys.fanout_routes(topic)],
            [now_ms(), maxlen, body, content_type],
            f"sending a fanout cast to {topic}",
        )
    stream = keys.server(topic, target.server) if target.server else keys.topic(topic)
    if expiration is not None:
        calls = keys.server_calls(topic, target.server) if target.server else keys.calls(topic)
        ttl = max(1, int(expiration * 1000))
        value = frame_call(body, content_type, str(now_ms() + ttl))
        return Publish("call", [stream, calls], [maxlen, value, ttl], f"sending a call to {calls}")
    return Publish(
        "send", [stream], [maxlen, body, content_type, ""], f"sending a request to {stream}"
    )


def notification(
    keys: Keys, target: Target, body: bytes, content_type: str, maxlen: int
) -> Publish:
    """A notification: to the address's default stream and every live pool's stream."""
    address = target.topic or ""
    stream = keys.notifications(address)
    return Publish(
        "notify",
        [stream, keys.pool_routes(address)],
        [now_ms(), maxlen, GROUP, body, content_type],
        f"sending a notification to {stream}",
    )


def reply(address: str, body: bytes, content_type: str, ttl: int) -> Publish:
    return Publish("reply", [address], [frame_reply(body, content_type), ttl], "sending a reply")


def is_reply_address(key_prefix: str, address: str) -> bool:
    """Whether ``address`` is a reply list of a driver with ``key_prefix``."""
    return address.startswith(f"{key_prefix}:") and ":reply:" in address


def check_room(delivered: int | bytes, maxlen: int) -> int:
    """The count a publish script returned, or ``MessageDeliveryFailure`` when it names a
    full key instead."""
    if isinstance(delivered, bytes):
        raise MessageDeliveryFailure(
            f"Redis key {delivered.decode(errors='replace')} already holds "
            f"stream_max_length ({maxlen}) messages not yet "
            "acknowledged: send refused (its consumers are behind or gone)"
        )
    return delivered


def undeliverable_key(target: Target) -> str:
    """The routing key to name in ``MessageUndeliverable`` for ``target``."""
    topic = target.topic or ""
    return f"{topic}.{target.server}" if target.server else topic


# -- listeners ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A zset entry that makes publishers copy messages into one of the listener's streams,
    refreshed while the listener lives; ``owned`` routes (and their streams) are removed by
    the listener's cleanup."""

    zset: str
    stream: str
    owned: bool


@dataclass(frozen=True)
class ListenPlan:
    """What a listener consumes: ``streams`` through the group, ``transient`` streams kept
    alive by its beat, ``routes`` refreshed by it, and (RPC servers) the call lists
    ``calls``, interrupted through the list ``doorbell``."""

    streams: list[str]
    transient: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    doorbell: str = ""


def server_plan(keys: Keys, target: Target) -> ListenPlan:
    """An RPC server's: the topic's and the server's streams, a fanout stream of its own,
    the server's then the topic's call list."""
    topic = target.topic or ""
    fanout = keys.fanout(topic, uuid.uuid4().hex)
    server = target.server or ""
    return ListenPlan(
        [keys.topic(topic), keys.server(topic, server), fanout],
        transient=[fanout],
        routes=[Route(keys.fanout_routes(topic), fanout, owned=True)],
        calls=[keys.server_calls(topic, server), keys.calls(topic)],
        doorbell=keys.doorbell(uuid.uuid4().hex),
    )


def notification_plan(
    keys_of: Callable[[str | None], Keys], targets: Sequence[Target], pool: str | None
) -> ListenPlan:
    """A notification listener's: the default streams of its addresses, or its pool's stream
    routed from each address."""
    streams: list[str] = []
    routes: list[Route] = []
    for target in targets:
        keys = keys_of(target.exchange)
        address = target.topic or ""
        if pool is None:
            streams.append(keys.notifications(address))
        else:
            streams.append(keys.pool(pool))
            routes.append(Route(keys.pool_routes(address), keys.pool(pool), owned=False))
    return ListenPlan(streams, transient=[r.stream for r in routes], routes=routes)


# -- what readers read -------------------------------------------------------------------


def read_reply(reply: Any) -> list[tuple[Any, list[tuple[Any, Any]]]]:
    """A raw ``XREADGROUP`` reply (a RESP3 map or a RESP2 array, entries with flat field
    lists) in the shape ``entries_of`` reads: ``[(stream, [(id, {field: value} or None)])]``."""
    if not reply:
        return []
    pairs = reply.items() if isinstance(reply, dict) else reply
    out = []
    for stream, items in pairs:
        entries = []
        for entry_id, fields in items or ():
            if isinstance(fields, list):
                fields = dict(zip(fields[::2], fields[1::2], strict=True))
            entries.append((entry_id, fields))
        out.append((stream, entries))
    return out


def entries_of(reply: Any, redelivered: bool) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The entries of a reply in :func:`read_reply`'s shape, and the keys of those with
    nothing to deliver, to be acknowledged and deleted: deleted while pending (no fields),
    or written by another writer without a body (logged)."""
    entries: list[Entry] = []
    gone: list[tuple[str, str]] = []
    for stream_name, items in reply or ():
        stream = text(stream_name)
        for raw_id, fields in items:
            entry_id = text(raw_id)
            if not fields or b"b" not in fields:
                if fields:
                    LOG.warning("Dropping entry %s of %s: it has no body", entry_id, stream)
                gone.append((stream, entry_id))
                continue
            entries.append(
                Entry(
                    stream,
                    entry_id,
                    fields[b"b"],
                    text(fields.get(b"c", b"")),
                    text(fields.get(b"e", b"")),
                    redelivered or b"r" in fields,
                )
            )
    return entries, gone


def text(value: Any) -> str:
    # errors="replace": a field another writer filled with non-UTF-8 bytes must not end a
    # reader; the core rejects what it cannot use.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
