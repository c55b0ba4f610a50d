"""The key layout: every key of one deployment lives under one prefix.

With ``P = <key_prefix>[:<vhost>]:<exchange>`` (the virtual host appears when the URL path is a
name rather than a database number)::

    P:q:<topic>                 stream   shared requests of a topic (consumer group "rpc")
    P:q:<topic>.<server>        stream   requests for one server
    P:c:<topic>                 list     call requests of a topic (see calls.py)
    P:c:<topic>.<server>        list     call requests for one server
    P:fanout:<topic>            zset     fanout streams of live listeners -> expiry (ms)
    P:f:<topic>:<id>            stream   one listener's fanout copies
    P:n:<topic>.<priority>      stream   notifications for listeners without a pool
    P:pools:<topic>.<priority>  zset     pool streams bound to that address -> expiry (ms)
    P:p:<pool>                  stream   notifications for one pool
    P:reply:<id>                list     replies to one transport's calls
    P:bell:<id>                 list     interrupts one listener's call reader (calls.py)

A topic's stream exists from the first time a server listened on it; it is also the mark
that lets call requests into the topic's lists. Every stream has exactly one consumer group,
so a message acknowledged by its group can be deleted at once. Two deployments differ in
their exchange, virtual host or database, and so never share a key.
"""

from __future__ import annotations

__all__ = ["GROUP", "Keys"]

#: The consumer group of every stream.
GROUP = "rpc"


class Keys:
    """Key names for one exchange."""

    __slots__ = ("prefix",)

    def __init__(self, key_prefix: str, vhost: str | None, exchange: str) -> None:
        parts = [key_prefix] + ([vhost] if vhost else []) + [exchange]
        self.prefix = ":".join(parts)

    def topic(self, topic: str) -> str:
        return f"{self.prefix}:q:{topic}"

    def server(self, topic: str, server: str) -> str:
        return f"{self.prefix}:q:{topic}.{server}"

    def calls(self, topic: str) -> str:
        return f"{self.prefix}:c:{topic}"

    def server_calls(self, topic: str, server: str) -> str:
        return f"{self.prefix}:c:{topic}.{server}"

    def fanout_routes(self, topic: str) -> str:
        return f"{self.prefix}:fanout:{topic}"

    def fanout(self, topic: str, listener_id: str) -> str:
        return f"{self.prefix}:f:{topic}:{listener_id}"

    def notifications(self, address: str) -> str:
        return f"{self.prefix}:n:{address}"

    def pool_routes(self, address: str) -> str:
        return f"{self.prefix}:pools:{address}"

    def pool(self, pool: str) -> str:
        return f"{self.prefix}:p:{pool}"

    def doorbell(self, listener_id: str) -> str:
        return f"{self.prefix}:bell:{listener_id}"

    def reply(self, reply_id: str) -> str:
        return f"{self.prefix}:reply:{reply_id}"

    def pattern(self) -> str:
        """A ``SCAN MATCH`` pattern for every key under this prefix."""
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix)
        return escaped + ":*"
