"""The ``[oslo_messaging_rabbit]`` options, with oslo.messaging's names and defaults.

Every option may also be set in the transport URL query (``rabbit://h/?amqp_durable_queues=true``),
which overrides the configuration file for that transport.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

from oslo_config import cfg

__all__ = ["GROUP", "OPTIONS", "Settings", "prefetch_window"]

GROUP = "oslo_messaging_rabbit"

OPTIONS: list[cfg.Opt] = [
    cfg.BoolOpt(
        "amqp_durable_queues",
        default=False,
        help="Use durable queues and exchanges, and persistent messages, in AMQP.",
    ),
    cfg.BoolOpt(
        "amqp_auto_delete",
        default=False,
        help="Auto-delete queues and exchanges in AMQP once their last consumer is gone.",
    ),
    cfg.BoolOpt(
        "rabbit_quorum_queue",
        default=False,
        help="Declare the topic queues as quorum queues (x-queue-type: quorum), which are "
        "durable and replicated; implies durable queues for them.",
    ),
    cfg.IntOpt(
        "rabbit_transient_queues_ttl",
        default=1800,
        min=0,
        help="Seconds a reply or fanout queue may stay unused before RabbitMQ deletes it "
        "(x-expires). 0 disables the expiry.",
    ),
    cfg.IntOpt(
        "rabbit_qos_prefetch_count",
        default=0,
        help="How many unacknowledged messages a listener may hold per queue; 0 (as in "
        "oslo.messaging) or less means twice executor_thread_pool_size, not unlimited, so that a "
        "backlog stays on the broker.",
    ),
    cfg.IntOpt(
        "heartbeat_timeout_threshold",
        default=60,
        help="Seconds without traffic after which a connection is considered dead "
        "(AMQP heartbeat). 0 disables heartbeats.",
    ),
    cfg.IntOpt(
        "heartbeat_rate",
        default=3,
        help="How many times per heartbeat_timeout_threshold the heartbeat is checked.",
    ),
    cfg.IntOpt(
        "rabbit_retry_interval",
        default=1,
        min=1,
        help="Seconds to wait before the first reconnection attempt to RabbitMQ.",
    ),
    cfg.IntOpt(
        "rabbit_retry_backoff",
        default=2,
        min=0,
        help="Seconds added to the wait after each failed round of reconnection attempts.",
    ),
    cfg.IntOpt(
        "rabbit_interval_max",
        default=30,
        min=1,
        help="Maximum seconds between two rounds of reconnection attempts.",
    ),
    cfg.StrOpt(
        "kombu_failover_strategy",
        default="round-robin",
        choices=("round-robin", "shuffle"),
        help="How the next host is chosen among the URL's hosts when a connection fails.",
    ),
    cfg.IntOpt(
        "rabbit_confirm_window",
        default=256,
        min=0,
        help="(rpcmsg) How many casts and notifications a publishing connection may have "
        "sent and not yet seen confirmed by RabbitMQ before senders wait for confirms. "
        "Unconfirmed messages are published again after a connection failure. 0 makes every "
        "send wait for its own confirm (one broker round trip each).",
    ),
    cfg.StrOpt(
        "kombu_compression",
        help="Compress message bodies with this kombu compression method (gzip, bzip2, "
        "zlib...). Unset: no compression. Compressed bodies are always accepted.",
    ),
    cfg.StrOpt(
        "rabbit_login_method",
        default="AMQPLAIN",
        choices=("PLAIN", "AMQPLAIN", "EXTERNAL", "RABBIT-CR-DEMO"),
        help="The RabbitMQ login method.",
    ),
    cfg.BoolOpt(
        "ssl",
        default=False,
        help="Connect over SSL/TLS.",
    ),
    cfg.StrOpt(
        "ssl_version",
        default="",
        help="Pin TLS connections to one protocol version: TLSv1, TLSv1_1, TLSv1_2 (where "
        "this Python's ssl module has them) or SSLv23 (the best both sides offer, as when "
        "unset). Case does not matter.",
    ),
    cfg.StrOpt(
        "ssl_ca_file",
        default="",
        help="Certificate authorities (PEM) that verify the broker's certificate. Unset: the "
        "system's certificate authorities verify it. The certificate is always verified.",
    ),
    cfg.StrOpt(
        "ssl_cert_file",
        default="",
        help="Client certificate (PEM) presented to a broker that asks for one.",
    ),
    cfg.StrOpt("ssl_key_file", default="", help="Private key of ssl_cert_file (PEM)."),
    cfg.BoolOpt(
        "ssl_enforce_hostname_verification",
        default=True,
        deprecated_for_removal=True,
        deprecated_reason="oslo.messaging deprecates turning host name checks off.",
        help="Check that the broker's certificate names the host connected to (each host "
        "of the URL against its own name, with or without ssl_ca_file); the name is also "
        "sent as SNI. False still verifies the certificate itself.",
    ),
    cfg.IntOpt(
        "rpc_conn_pool_size",
        default=30,
        min=1,
        help="Most publishing connections a transport keeps open to RabbitMQ.",
    ),
    cfg.IntOpt(
        "conn_pool_min_size",
        default=2,
        help="Publishing connections that stay open however long they are idle; those "
        "beyond this number are closed after conn_pool_ttl idle seconds.",
    ),
    cfg.IntOpt(
        "conn_pool_ttl",
        default=1200,
        help="Seconds an idle publishing connection beyond conn_pool_min_size is kept open.",
    ),
    cfg.BoolOpt(
        "ssl_enforce_fips_mode",
        default=False,
        deprecated_for_removal=True,
        deprecated_reason="OpenSSL 3 removed the API that switched FIPS mode on; the option "
        "does nothing any more.",
        help="Ask for OpenSSL's FIPS mode. Accepted for compatibility and ignored: FIPS mode "
        "is a property of the OpenSSL build and system policy now.",
    ),
    cfg.FloatOpt(
        "kombu_reconnect_delay",
        default=1.0,
        min=0.0,
        max=4.5,
        help="Seconds to wait before reconnecting after a connection failure or a consumer "
        "cancel notification from RabbitMQ.",
    ),
    cfg.FloatOpt(
        "kombu_reconnect_splay",
        default=0.0,
        min=0.0,
        help="Up to this many extra seconds, chosen at random, added to the wait before "
        "reconnecting, so that many processes do not reconnect at the same instant.",
    ),
    cfg.IntOpt(
        "kombu_missing_consumer_retry_timeout",
        default=60,
        deprecated_name="kombu_reconnect_timeout",
        help="Seconds a server keeps trying to deliver a reply whose reply queue does not "
        "exist (its caller may be reconnecting) before it drops the reply. Should not "
        "exceed rpc_response_timeout.",
    ),
    cfg.BoolOpt(
        "rabbit_ha_queues",
        default=False,
        help="Declare queues with the x-ha-policy: all argument (mirrored queues of RabbitMQ "
        "before 3.0; later versions mirror by policy instead, e.g. rabbitmqctl set_policy). "
        "Cannot be combined with rabbit_quorum_queue.",
    ),
    cfg.BoolOpt(
        "rabbit_transient_quorum_queue",
        default=False,
        help="Declare the reply and fanout queues as quorum queues too (durable and "
        "replicated), and their exchanges durable.",
    ),
    cfg.IntOpt(
        "rabbit_quorum_delivery_limit",
        default=0,
        help="For quorum queues: how many times a message may be redelivered before RabbitMQ "
        "drops it or dead-letters it (x-delivery-limit). 0: no limit.",
    ),
    cfg.IntOpt(
        "rabbit_quorum_max_memory_length",
        default=0,
        help="For quorum queues: most messages kept in memory (x-max-in-memory-length). "
        "0: no limit.",
    ),
    cfg.IntOpt(
        "rabbit_quorum_max_memory_bytes",
        default=0,
        help="For quorum queues: most bytes of messages kept in memory "
        "(x-max-in-memory-bytes). 0: no limit.",
    ),
    cfg.BoolOpt(
        "direct_mandatory_flag",
        default=True,
        deprecated_for_removal=True,
        deprecated_reason="Replies will always be sent mandatory.",
        help="Send replies mandatory, so that a reply whose reply queue is missing is noticed "
        "and sent again for up to kombu_missing_consumer_retry_timeout seconds. False: such "
        "replies are dropped by RabbitMQ at once.",
    ),
    cfg.BoolOpt(
        "enable_cancel_on_failover",
        default=False,
        help="Consume with the x-cancel-on-ha-failover argument: RabbitMQ cancels the "
        "consumer (which then consumes again) when its mirrored queue fails over.",
    ),
    cfg.BoolOpt(
        "use_queue_manager",
        default=False,
        help="Give reply and fanout queues stable names built from hostname, processname "
        "and a per-host counter instead of random ones, so that a restarted service uses "
        "the same queues again.",
    ),
    cfg.StrOpt(
        "hostname",
        default=socket.gethostname(),
        sample_default="node1.example.com",
        help="The host name in the queue manager's queue names (default: this host's name).",
    ),
    cfg.StrOpt(
        "processname",
        default=os.path.basename(sys.argv[0]),
        sample_default="nova-api",
        help="The process name in the queue manager's queue names (default: the program's "
        "file name).",
    ),
    cfg.BoolOpt(
        "rabbit_stream_fanout",
        default=False,
        help="Use one stream queue (x-queue-type: stream) per fanout topic, read by every "
        "listener from its own offset, instead of a queue per listener. Needs "
        "rabbit_transient_quorum_queue and rabbit_qos_prefetch_count > 0.",
    ),
]


#: The largest heartbeat AMQP can carry (connection.tune's heartbeat is a short).
MAX_HEARTBEAT = 65535
#: The largest prefetch window AMQP can carry (basic.qos's prefetch-count is a short).
MAX_PREFETCH = 65535
#: The longest queue expiry RabbitMQ accepts (x-expires of 3,650 days, measured on 3.10).
MAX_QUEUE_TTL = 3650 * 86400


@dataclass(frozen=True)
class Settings:
    """The driver's options, read once per transport (see ``load_settings``)."""

    amqp_durable_queues: bool = False
    amqp_auto_delete: bool = False
    rabbit_quorum_queue: bool = False
    rabbit_transient_queues_ttl: int = 1800
    rabbit_qos_prefetch_count: int = 0
    heartbeat_timeout_threshold: int = 60
    heartbeat_rate: int = 3
    rabbit_retry_interval: int = 1
    rabbit_retry_backoff: int = 2
    rabbit_interval_max: int = 30
    kombu_failover_strategy: str = "round-robin"
    rabbit_confirm_window: int = 256
    kombu_compression: str | None = None
    rabbit_login_method: str = "AMQPLAIN"
    ssl: bool = False
    ssl_version: str = ""
    ssl_ca_file: str = ""
    ssl_cert_file: str = ""
    ssl_key_file: str = ""
    ssl_enforce_hostname_verification: bool = True
    rpc_conn_pool_size: int = 30
    conn_pool_min_size: int = 2
    conn_pool_ttl: int = 1200
    ssl_enforce_fips_mode: bool = False
    kombu_reconnect_delay: float = 1.0
    kombu_reconnect_splay: float = 0.0
    kombu_missing_consumer_retry_timeout: int = 60
    rabbit_ha_queues: bool = False
    rabbit_transient_quorum_queue: bool = False
    rabbit_quorum_delivery_limit: int = 0
    rabbit_quorum_max_memory_length: int = 0
    rabbit_quorum_max_memory_bytes: int = 0
    direct_mandatory_flag: bool = True
    enable_cancel_on_failover: bool = False
    use_queue_manager: bool = False
    hostname: str = ""
    processname: str = ""
    rabbit_stream_fanout: bool = False

    @property
    def durable(self) -> bool:
        """Topic exchanges and queues are durable, and messages persistent."""
        return self.amqp_durable_queues or self.rabbit_quorum_queue

    @property
    def heartbeat(self) -> int:
        """The AMQP heartbeat asked of the broker, in seconds: 0 (off) for
        ``heartbeat_timeout_threshold`` of 0 or less, as in oslo.messaging."""
        return max(0, self.heartbeat_timeout_threshold)

    @property
    def transient_durable(self) -> bool:
        """Reply and fanout queues (and fanout exchanges) are durable."""
        return self.rabbit_transient_quorum_queue or self.rabbit_stream_fanout

    def check(self) -> None:
        """Raise ``ValueError`` for settings that cannot work together (the combinations
        oslo.messaging refuses too), naming the options."""
        quorum = self.rabbit_quorum_queue or self.rabbit_transient_quorum_queue
        if self.rabbit_ha_queues and quorum:
            raise ValueError(
                "Configuration error: rabbit_ha_queues (mirrored queues) cannot be combined "
                "with rabbit_quorum_queue or rabbit_transient_quorum_queue"
            )
        if self.rabbit_stream_fanout and self.rabbit_qos_prefetch_count <= 0:
            raise ValueError(
                "Configuration error: rabbit_stream_fanout needs rabbit_qos_prefetch_count "
                "greater than 0 (RabbitMQ streams are consumed with a prefetch limit)"
            )
        if self.rabbit_stream_fanout and not self.rabbit_transient_quorum_queue:
            raise ValueError(
                "Configuration error: rabbit_stream_fanout needs rabbit_transient_quorum_queue"
            )
        if self.rpc_conn_pool_size < self.conn_pool_min_size:
            raise ValueError(
                f"Configuration error: rpc_conn_pool_size ({self.rpc_conn_pool_size}) must "
                f"not be less than conn_pool_min_size ({self.conn_pool_min_size})"
            )
        if self.heartbeat > MAX_HEARTBEAT:
            raise ValueError(
                f"Configuration error: heartbeat_timeout_threshold "
                f"({self.heartbeat_timeout_threshold}) must not exceed {MAX_HEARTBEAT} seconds "
                "(the AMQP heartbeat is a 16-bit field)"
            )
        if self.rabbit_qos_prefetch_count > MAX_PREFETCH:
            raise ValueError(
                f"Configuration error: rabbit_qos_prefetch_count "
                f"({self.rabbit_qos_prefetch_count}) must not exceed {MAX_PREFETCH} "
                "(basic.qos carries a 16-bit count)"
            )
        if self.rabbit_transient_queues_ttl > MAX_QUEUE_TTL:
            raise ValueError(
                f"Configuration error: rabbit_transient_queues_ttl "
                f"({self.rabbit_transient_queues_ttl}) must not exceed {MAX_QUEUE_TTL} seconds "
                "(RabbitMQ refuses a queue expiry beyond ten years)"
            )
        if self.heartbeat > 0 and self.heartbeat_rate <= 0:
            raise ValueError(
                "Configuration error: heartbeat_rate must be greater than 0 while "
                "heartbeat_timeout_threshold is"
            )


def prefetch_window(settings: Settings, conf: cfg.ConfigOpts, capacity: int | None = None) -> int:
    """How many unacknowledged messages a listener may hold (the sync driver: over all its
    queues together).

    ``rabbit_qos_prefetch_count``, or when that is 0 (oslo.messaging's "no limit", which would
    pull a queue's whole backlog into the process) two messages per worker of the server:
    ``capacity`` (its own pool) or ``executor_thread_pool_size``. That keeps every worker
    busy and the rest of a backlog on the broker.
    """
    count = settings.rabbit_qos_prefetch_count
    if count > 0:
        return min(MAX_PREFETCH, int(count))
    return min(MAX_PREFETCH, 2 * max(1, int(capacity or conf.executor_thread_pool_size)))
