"""The server-side scripts that make each publish one atomic round trip.

Entry fields: ``b`` body, ``c`` content type, ``e`` expiry (epoch milliseconds, optional),
``r`` present on a copy that is delivered again.

Nothing is ever trimmed: each stream has one consumer group and an acknowledged entry is
deleted at once, so a stream's length is what is still pending or undelivered. A publish to
a stream (or call list) already holding ``stream_max_length`` entries adds nothing and is
refused: the scripts return the name of the full key instead of a count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from rpcmsg_drivers.redis.resp import execute_pooled, pack

__all__ = ["SOURCES", "Scripts"]

#: KEYS: stream. ARGV: maxlen, body, content type, expiry ms or "".
#: Adds to the stream only if a listener created it; returns how many streams took it (0/1),
#: or the stream's name when it is full.
SEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return KEYS[1] end
if ARGV[4] == '' then
  redis.call('XADD', KEYS[1], '*', 'b', ARGV[2], 'c', ARGV[3])
else
  redis.call('XADD', KEYS[1], '*', 'b', ARGV[2], 'c', ARGV[3], 'e', ARGV[4])
end
return 1
"""

#: KEYS: stream marking the topic as served, call list. ARGV: maxlen, value, ttl ms.
#: Pushes a call request if a server declared the topic; the list lives as long as the
#: longest timeout of the requests in it. A list holding maxlen requests takes no more.
CALL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[1]) then return KEYS[2] end
redis.call('RPUSH', KEYS[2], ARGV[2])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"""

#: KEYS: routes zset. ARGV: now ms, maxlen, body, content type.
#: Adds a copy to every stream whose route has not expired; forgets expired routes. If one
#: of them is full, adds nothing anywhere.
FANOUT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local streams = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, stream in ipairs(streams) do
  if redis.call('XLEN', stream) >= tonumber(ARGV[2]) then return stream end
end
for _, stream in ipairs(streams) do
  redis.call('XADD', stream, '*', 'b', ARGV[3], 'c', ARGV[4])
end
return #streams
"""

#: KEYS: default stream, pool routes zset. ARGV: now ms, maxlen, group, body, content type.
#: Creates the default stream and its group when missing, so nothing is lost before the
#: first listener starts, then adds a copy there and to every live pool's stream. If one of
#: them is full, adds nothing anywhere.
NOTIFY = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[3], '0', 'MKSTREAM')
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
local streams = redis.call('ZRANGE', KEYS[2], 0, -1)
table.insert(streams, 1, KEYS[1])
for _, stream in ipairs(streams) do
  if redis.call('XLEN', stream) >= tonumber(ARGV[2]) then return stream end
end
for _, stream in ipairs(streams) do
  redis.call('XADD', stream, '*', 'b', ARGV[4], 'c', ARGV[5])
end
return #streams
"""

#: KEYS: a reply list. ARGV: value, ttl seconds.
REPLY = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: KEYS: stream. ARGV: group, consumer. Deletes the consumer only if it holds nothing, in
#: one step, so that nothing it might read meanwhile is dropped with it.
FORGET = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""


#: The scripts by name (a :class:`rpcmsg_drivers.redis.wire.Publish` names one).
SOURCES: dict[str, str] = {
    "send": SEND,
    "call": CALL,
    "fanout": FANOUT,
    "notify": NOTIFY,
    "reply": REPLY,
    "forget": FORGET,
}


class Scripts:
    """The scripts, registered on one client (loaded lazily, reloaded after a restart)."""

    def __init__(self, client: redis.Redis) -> None:
        self.send: Any = client.register_script(SEND)
        self.call: Any = client.register_script(CALL)
        self.fanout: Any = client.register_script(FANOUT)
        self.notify: Any = client.register_script(NOTIFY)
        self.reply: Any = client.register_script(REPLY)
        self.forget: Any = client.register_script(FORGET)
        #: The same scripts by their names in ``SOURCES``.
        self.by_name: dict[str, Any] = {
            "send": self.send,
            "call": self.call,
            "fanout": self.fanout,
            "notify": self.notify,
            "reply": self.reply,
            "forget": self.forget,
        }

    @staticmethod
    def evalsha(
        client: redis.Redis, script: Any, keys: Sequence[str], args: Sequence[bytes | str | int]
    ) -> Any:
        """Run ``script`` (one of the attributes) on a connection of ``client``'s pool in one
        round trip, packed by hand (the hot paths); loads it first if Redis does not know it
        (after a restart)."""
        command = pack(b"EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return execute_pooled(client, command)
        except redis.exceptions.NoScriptError:
            client.script_load(script.script)
            return execute_pooled(client, command)
