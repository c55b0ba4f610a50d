"""Fixtures of the asyncio Redis driver's tests: drivers made through the
``rpcmsg.async_drivers`` entry point (and sync twins through ``rpcmsg.drivers``) on the live
Redis, each test under an exchange of its own (its keys' prefix), deleted at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from oslo_config import cfg

from rpcmsg import _plugins
from rpcmsg._url import TransportURL
from rpcmsg.driver.aio import AsyncDriver
from rpcmsg.target import Target
from tests.redis.conftest import RedisEnv

T = TypeVar("T")

GROUP = "rpcmsg_redis"


@pytest.fixture
def renv() -> Iterator[RedisEnv]:
    from tests.drivers import make_env

    env = RedisEnv(make_env("redis"))
    yield env
    env.close()


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a new event loop, failing the test if it takes over ``timeout``."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def _conf(env: RedisEnv, options: dict[str, Any], cls: Any) -> cfg.ConfigOpts:
    conf = env.conf()
    conf.register_opts(list(cls.options), group=cls.option_group)
    for name, value in options.items():
        conf.set_override(name, value, group=GROUP)
    return conf


def make_driver(env: RedisEnv, url: str | None = None, **options: Any) -> AsyncDriver:
    """An async Redis driver for ``env`` (``options`` set in ``[rpcmsg_redis]``)."""
    cls = _plugins.load_async_driver_class("redis")
    conf = _conf(env, options, cls)
    driver: AsyncDriver = cls(conf, TransportURL.parse(conf, url or env.url), env.exchange)
    return driver


def make_sync_driver(env: RedisEnv, url: str | None = None, **options: Any) -> Any:
    """The sync twin, for interop tests."""
    cls = _plugins.load_driver_class("redis")
    conf = _conf(env, options, cls)
    return cls(conf, TransportURL.parse(conf, url or env.url), env.exchange)


def target(env: RedisEnv, topic: str, **kwargs: Any) -> Target:
    return Target(exchange=env.exchange, topic=topic, **kwargs)


def deadline_in(seconds: float) -> float:
    return time.monotonic() + seconds
