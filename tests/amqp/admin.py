"""Looking at and tidying the test broker from tests: rabbitmqctl and a raw py-amqp channel.

Only for tests: drivers never shell out. ``rabbitmqctl`` takes about half a second a call,
so tests use it sparingly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import amqp

RABBITMQCTL = shutil.which("rabbitmqctl")


def rabbitmqctl(*args: str, timeout: float = 30.0) -> Any:
    """Run ``rabbitmqctl ARGS --formatter json -q``; returns the decoded output (or None)."""
    if RABBITMQCTL is None:
        raise RuntimeError("rabbitmqctl not found")
    out = subprocess.run(
        [RABBITMQCTL, *args, "--formatter", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    ).stdout.strip()
    return json.loads(out) if out else None


def connections_of(pid: int | None = None) -> set[str]:
    """Names (``ip:port -> ip:port``) of the connections of process ``pid`` (default: us)."""
    suffix = f":{pid or os.getpid()}"
    found = set()
    for conn in rabbitmqctl("list_connections", "name", "client_properties") or []:
        # A connection still opening lists its properties in another shape (or none).
        props = {
            p[0]: p[2]
            for p in conn.get("client_properties") or []
            if isinstance(p, list) and len(p) == 3
        }
        if str(props.get("connection_name", "")).startswith("rpcmsg:") and str(
            props.get("connection_name")
        ).endswith(suffix):
            found.add(conn["name"])
    return found


def close_connections(names: Iterable[str]) -> None:
    """Have the broker close the connections with these names (gone ones are skipped)."""
    if RABBITMQCTL is None:
        raise RuntimeError("rabbitmqctl not found")
    listing = subprocess.run(
        [RABBITMQCTL, "list_connections", "pid", "name", "-q"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    wanted = set(names)
    for line in listing.splitlines():
        pid, _, name = line.partition("\t")
        if name in wanted:
            subprocess.run(
                [RABBITMQCTL, "close_connection", pid, "rpcmsg test: fault injection"],
                capture_output=True,
                timeout=30,
            )


def queue_info(name: str) -> dict[str, Any] | None:
    """``{"name", "durable", "arguments", "type", "messages"}`` of a queue, or None."""
    for queue in rabbitmqctl("list_queues", "name", "durable", "arguments", "type", "messages"):
        if queue["name"] == name:
            return dict(queue)
    return None


@contextmanager
def channel(host: str = "127.0.0.1:5672") -> Iterator[Any]:
    """A raw py-amqp channel to the test broker."""
    conn = amqp.Connection(host)
    conn.connect()
    try:
        yield conn.channel()
    finally:
        conn.close()


def purge(prefixes: Iterable[str], exchanges: Iterable[str]) -> None:
    """Delete the queues whose names start with one of ``prefixes`` and the ``exchanges``."""
    prefixes = tuple(prefixes)
    names = [q["name"] for q in rabbitmqctl("list_queues", "name") or []]
    with channel() as ch:
        for name in names:
            if prefixes and name.startswith(prefixes):
                ch.queue_delete(name)
        for exchange in exchanges:
            ch.exchange_delete(exchange)
