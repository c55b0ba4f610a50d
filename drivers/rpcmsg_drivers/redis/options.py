"""The ``[rpcmsg_redis]`` options and the typed settings the driver reads from them.

Every option may also be set in the transport URL query, which overrides the configuration
file for that transport: ``redis://h:6379/0?stream_max_length=5000&claim_idle_time=30``.
"""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg

__all__ = ["GROUP", "OPTIONS", "Settings"]

GROUP = "rpcmsg_redis"

OPTIONS: list[cfg.Opt] = [
    cfg.StrOpt(
        "key_prefix",
        default="rpcmsg",
        help="First component of every key the driver creates. Keys are further scoped by "
        "the virtual host (when it is not a database number) and the exchange.",
    ),
    cfg.FloatOpt(
        "socket_timeout",
        default=5.0,
        min=0.1,
        help="Seconds to wait for Redis to answer a command before the connection is "
        "considered broken.",
    ),
    cfg.FloatOpt(
        "socket_connect_timeout",
        default=5.0,
        min=0.1,
        help="Seconds to wait for a TCP (or TLS) connection to Redis.",
    ),
    cfg.IntOpt(
        "health_check_interval",
        default=30,
        min=0,
        help="Seconds a pooled connection may stay idle before it is checked with PING "
        "before use. 0 disables the check.",
    ),
    cfg.FloatOpt(
        "retry_interval",
        default=0.5,
        min=0.0,
        help="Seconds to wait before the first reconnection attempt.",
    ),
    cfg.FloatOpt(
        "retry_backoff",
        default=2.0,
        min=1.0,
        help="Factor by which the wait grows after each failed reconnection attempt.",
    ),
    cfg.FloatOpt(
        "retry_interval_max",
        default=10.0,
        min=0.1,
        help="Maximum seconds between two reconnection attempts.",
    ),
    cfg.IntOpt(
        "stream_max_length",
        default=10000,
        min=1,
        help="Cap on the messages not yet acknowledged in every request and notification "
        "stream and every call list. A send to a full one is refused with "
        "MessageDeliveryFailure; nothing unacknowledged is ever trimmed.",
    ),
    cfg.FloatOpt(
        "claim_idle_time",
        default=60.0,
        min=0.1,
        help="Seconds a message may stay unacknowledged by a consumer that shows no sign of "
        "life before a live consumer of the same queue claims and redelivers it. Live "
        "consumers refresh the messages they hold every third of this time.",
    ),
    cfg.IntOpt(
        "prefetch_count",
        default=16,
        min=1,
        help="How many messages a listener reads ahead of its workers: at most this many "
        "wait in the process to be polled; the rest of a backlog stays in Redis.",
    ),
    cfg.IntOpt(
        "transient_queues_ttl",
        default=1800,
        min=1,
        help="Seconds a fanout queue or a notification pool's queue outlives its last "
        "listener before it is deleted with its messages.",
    ),
    cfg.IntOpt(
        "reply_ttl",
        default=60,
        min=1,
        help="Seconds a reply list outlives its last reply; the list of a caller that died "
        "vanishes after this time.",
    ),
    cfg.StrOpt(
        "sentinel_service_name",
        default="mymaster",
        help="Name of the monitored master to use with a redis+sentinel:// URL.",
    ),
    cfg.StrOpt(
        "sentinel_password",
        secret=True,
        help="Password of the Sentinel servers themselves (the URL's credentials are those "
        "of the Redis master).",
    ),
    cfg.StrOpt(
        "ssl_ca_file",
        default="",
        help="Certificate authorities (PEM) that verify the server's certificate with "
        "rediss://. Unset: the system's certificate authorities verify it.",
    ),
    cfg.StrOpt("ssl_cert_file", default="", help="Client certificate file for rediss://."),
    cfg.StrOpt("ssl_key_file", default="", help="Client private key file for rediss://."),
    cfg.BoolOpt(
        "ssl_verify",
        default=True,
        help="Verify the server's certificate and host name with rediss:// (on by default). "
        "False accepts any certificate: for tests only.",
    ),
]


@dataclass(frozen=True)
class Settings:
    """The driver's view of ``[rpcmsg_redis]`` after URL query overrides."""

    key_prefix: str
    socket_timeout: float
    socket_connect_timeout: float
    health_check_interval: int
    retry_interval: float
    retry_backoff: float
    retry_interval_max: float
    stream_max_length: int
    claim_idle_time: float
    prefetch_count: int
    transient_queues_ttl: int
    reply_ttl: int
    sentinel_service_name: str
    sentinel_password: str | None
    ssl_ca_file: str
    ssl_cert_file: str
    ssl_key_file: str
    ssl_verify: bool

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (0 for the first)."""
        return float(
            min(self.retry_interval * self.retry_backoff**attempt, self.retry_interval_max)
        )
