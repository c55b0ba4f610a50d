"""The ``[oslo_messaging_rabbit]`` options, with oslo.messaging's names and defaults.

Every option may also be set in the transport URL query (``rabbit://h/?amqp_durable_queues=true``),
which overrides the configuration file for that transport.
"""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg

__all__ = ["GROUP", "OPTIONS", "Settings"]

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
        min=0,
        help="How many unacknowledged messages a consumer may hold; 0 means no limit.",
    ),
    cfg.IntOpt(
        "heartbeat_timeout_threshold",
        default=60,
        min=0,
        help="Seconds without traffic after which a connection is considered dead "
        "(AMQP heartbeat). 0 disables heartbeats.",
    ),
    cfg.IntOpt(
        "heartbeat_rate",
        default=3,
        min=1,
        help="How many times per heartbeat_timeout_threshold the heartbeat is checked.",
    ),
    cfg.IntOpt(
        "rabbit_retry_interval",
        default=1,
        min=0,
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
        deprecated_name="rabbit_use_ssl",
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
        help="Check that the broker's certificate names the host connected to (each host "
        "of the URL against its own name, with or without ssl_ca_file); the name is also "
        "sent as SNI. False still verifies the certificate itself.",
    ),
]


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

    @property
    def durable(self) -> bool:
        """Topic exchanges and queues are durable, and messages persistent."""
        return self.amqp_durable_queues or self.rabbit_quorum_queue
