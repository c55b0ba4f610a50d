"""Delete what the rpcmsg workloads leave on a real broker (their fixed exchange and topics).

Benchmarks may use the broker client libraries directly (the raw loops do); the library never
does. RabbitMQ: the workloads' queues (``<topic>``, ``<topic>.s1``, ``<topic>.info``), fanout
exchanges and control exchange. Redis: every key under the workloads' exchange.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from rpcmsg.cli.workloads import EXCHANGE, TOPICS

__all__ = ["tidy"]


def _rabbit(url: str) -> None:
    import amqp

    parts = urlsplit(url)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=unquote(parts.username or "guest"),
        password=unquote(parts.password or "guest"),
        virtual_host=vhost,
    )
    conn.connect()
    try:
        channel = conn.channel()
        for topic in TOPICS.values():
            for queue in (topic, f"{topic}.s1", f"{topic}.info"):
                channel.queue_delete(queue)
            channel.exchange_delete(f"{topic}_fanout")
        channel.exchange_delete(EXCHANGE)
    finally:
        conn.close()


def _redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url.split("?", 1)[0])
    try:
        for pattern in (f"rpcmsg:{EXCHANGE}:*", f"rpcmsg:*:{EXCHANGE}:*"):
            keys = list(client.scan_iter(pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def tidy(driver: str, url: str) -> None:
    """Delete the workloads' footprint on ``url``; raises the client library's errors."""
    if driver == "rabbit":
        _rabbit(url)
    elif driver == "redis":
        _redis(url)
