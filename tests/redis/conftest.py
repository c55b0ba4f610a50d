"""Fixtures of the Redis driver's own tests: a live Redis, an isolated exchange, clean-up."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rpcmsg_drivers.redis import RedisDriver

import rpcmsg
from tests.drivers import REDIS_URL, DriverEnv, make_env


class RedisEnv(DriverEnv):
    """A driver environment with a URL query of its own and a raw client to inspect Redis."""

    def __init__(self, base: DriverEnv) -> None:
        super().__init__(base.spec)
        self.raw = redis.Redis.from_url(REDIS_URL)
        self.extra_prefixes: list[str] = []

    def with_options(self, **query: Any) -> RedisEnv:
        """Use ``query`` as URL options for the transports made from now on."""
        self.url = REDIS_URL + "?" + "&".join(f"{k}={v}" for k, v in query.items())
        return self

    @property
    def prefix(self) -> str:
        return f"rpcmsg:{self.exchange}"

    def keys(self, pattern: str = "*") -> list[str]:
        return sorted(k.decode() for k in self.raw.scan_iter(f"{self.prefix}:{pattern}"))

    def kill_connections(
        self, name_part: str = "", transport: rpcmsg.Transport | None = None
    ) -> int:
        """``CLIENT KILL`` every connection of this process (of ``transport`` only, if
        given) whose name contains ``name_part``; returns how many."""
        mine = (
            f"{self.driver(transport)._factory.name}:"
            if transport is not None
            else f"rpcmsg:{socket.gethostname()}:{os.getpid()}:"
        )
        killed = 0
        for client in self.raw.client_list():
            name = client.get("name", "")
            if name.startswith(mine) and name_part in name:
                killed += self.raw.client_kill_filter(_id=client["id"])
        return killed

    def driver(self, transport: rpcmsg.Transport | None = None) -> RedisDriver:
        """The Redis driver of ``transport`` (default: a new transport)."""
        driver = (transport or self.transport()).driver
        assert isinstance(driver, RedisDriver)
        return driver

    def close(self) -> None:
        super().close()
        for prefix in self.extra_prefixes:
            for db in (0, 1):
                client = redis.Redis(db=db)
                keys = list(client.scan_iter(f"{prefix}:*"))
                if keys:
                    client.delete(*keys)
                client.close()
        self.raw.close()


@pytest.fixture
def renv() -> Iterator[RedisEnv]:
    env = RedisEnv(make_env("redis"))
    yield env
    env.close()
