"""The drivers the conformance suite runs on, and how each test gets an isolated broker.

Every driver listed here runs the whole of ``tests/conformance``. The fake always runs; the
real brokers run when reachable. A driver that is not installed, or whose broker is
unreachable, skips its tests on a developer machine and fails them in CI (``CI`` set in the
environment); ``RPCMSG_TEST_DRIVERS`` chooses the drivers on purpose.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg import _plugins

IN_CI = bool(os.environ.get("CI"))

#: Per driver name: (topic names made by ``unique()``, exchanges) tests used, for brokers that
#: keep them after the test (RabbitMQ) to delete at the end of the session.
CREATED: dict[str, tuple[set[str], set[str]]] = {}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@dataclass
class DriverSpec:
    """How to reach one driver's broker in tests."""

    name: str
    scheme: str
    base_url: Callable[[str], str]  # run id -> URL
    host: tuple[str, int] | None = None
    extra_conf: dict[str, Any] = field(default_factory=dict)
    #: Removes what a test left on the broker (called after its servers and transports).
    purge: Callable[[DriverEnv], None] | None = None

    def unavailable(self) -> str | None:
        """Why this driver cannot run here, or None."""
        try:
            _plugins.load_driver_class(self.scheme)
        except rpcmsg.DriverLoadFailure as exc:
            return f"driver {self.scheme} not installed: {exc}"
        if self.host and not _reachable(*self.host):
            return f"{self.name} broker not reachable at {self.host[0]}:{self.host[1]}"
        return None


RABBIT_URL = os.environ.get("RPCMSG_TEST_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("RPCMSG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def purge_redis(env: DriverEnv) -> None:
    """Delete every key under the test's exchange: Redis streams outlive their consumers,
    like durable queues."""
    import redis

    client = redis.Redis.from_url(env.url.split("?", 1)[0])
    try:
        keys = list(client.scan_iter(f"rpcmsg:{env.exchange}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


SPECS: dict[str, DriverSpec] = {
    "fake": DriverSpec("fake", "fake", lambda run: f"fake:///{run}"),
    "rabbit": DriverSpec("rabbit", "rabbit", lambda run: RABBIT_URL, ("127.0.0.1", 5672)),
    "redis": DriverSpec(
        "redis", "redis", lambda run: REDIS_URL, ("127.0.0.1", 6379), purge=purge_redis
    ),
}


def selected() -> list[str]:
    names = os.environ.get("RPCMSG_TEST_DRIVERS")
    if not names:
        return list(SPECS)
    return [n.strip() for n in names.split(",") if n.strip() in SPECS]


class DriverEnv:
    """One test's view of a driver: isolated config, URL, unique names, and cleanup.

    Isolation: each test gets its own ``control_exchange`` (and for the fake its own broker),
    and ``unique()`` makes topic names no other test uses.
    """

    def __init__(self, spec: DriverSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.run_id = uuid.uuid4().hex[:10]
        self.url = spec.base_url(self.run_id)
        self.exchange = f"rpcmsg-test-{self.run_id}"
        self._created = CREATED.setdefault(spec.name, (set(), set()))
        self._created[1].add(self.exchange)
        self._transports: list[rpcmsg.Transport] = []
        self._servers: list[Any] = []

    def conf(self) -> cfg.ConfigOpts:
        conf = cfg.ConfigOpts()
        conf([], project="rpcmsg-tests")
        from rpcmsg.opts import register_opts

        register_opts(conf)
        conf.set_override("control_exchange", self.exchange)
        conf.set_override("transport_url", self.url)
        for key, value in self.spec.extra_conf.items():
            group, _, name = key.rpartition(".")
            conf.set_override(name, value, group=group or None)
        return conf

    @property
    def capabilities(self) -> Any:
        return _plugins.load_driver_class(self.spec.scheme).capabilities

    def unique(self, prefix: str = "topic") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self._created[0].add(name)
        return name

    def transport(self, conf: cfg.ConfigOpts | None = None, **kwargs: Any) -> rpcmsg.Transport:
        transport = rpcmsg.get_rpc_transport(conf or self.conf(), self.url, **kwargs)
        self._transports.append(transport)
        return transport

    def notification_transport(self, conf: cfg.ConfigOpts | None = None) -> Any:
        from rpcmsg.notify import get_notification_transport

        transport = get_notification_transport(conf or self.conf(), self.url)
        self._transports.append(transport)
        return transport

    def track(self, server: Any) -> Any:
        """Stop and wait for ``server`` at the end of the test."""
        self._servers.append(server)
        return server

    def server(self, topic: str, endpoints: list[Any], server: str = "s1", **kwargs: Any) -> Any:
        """A started RPC server on a fresh transport."""
        transport = kwargs.pop("transport", None) or self.transport()
        srv = rpcmsg.get_rpc_server(
            transport, rpcmsg.Target(topic=topic, server=server), endpoints, **kwargs
        )
        srv.start()
        return self.track(srv)

    def client(self, topic: str, **kwargs: Any) -> rpcmsg.RPCClient:
        transport = kwargs.pop("transport", None) or self.transport()
        return rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), **kwargs)

    def close(self) -> None:
        for srv in self._servers:
            try:
                srv.stop()
                srv.wait()
            except Exception:
                pass
        for transport in self._transports:
            try:
                transport.cleanup()
            except Exception:
                pass
        if self.spec.purge is not None:
            self.spec.purge(self)


def make_env(name: str) -> DriverEnv:
    spec = SPECS[name]
    why = spec.unavailable()
    if why:
        if IN_CI:  # a driver that is not installed is as missing as a broker that is down
            pytest.fail(f"CI needs {name}: {why}")
        pytest.skip(why)
    return DriverEnv(spec)
