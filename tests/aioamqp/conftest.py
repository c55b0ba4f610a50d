"""Fixtures of the asyncio RabbitMQ driver's tests: a rabbit environment and drivers made
through the ``rpcmsg.async_drivers`` entry point, on the real broker."""

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
from tests.drivers import DriverEnv, make_env

T = TypeVar("T")

GROUP = "oslo_messaging_rabbit"


@pytest.fixture
def rabbit() -> Iterator[DriverEnv]:
    """The rabbit environment: its own control_exchange, unique topics, purged at the end."""
    env = make_env("rabbit")
    yield env
    env.close()


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a new event loop, failing the test if it takes over ``timeout``."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def make_driver(
    env: DriverEnv,
    url: str | None = None,
    conf: cfg.ConfigOpts | None = None,
    **options: Any,
) -> AsyncDriver:
    """An async rabbit driver for ``env`` (options set in ``[oslo_messaging_rabbit]``, or
    the default group for ``executor_thread_pool_size``)."""
    conf = conf or env.conf()
    cls = _plugins.load_async_driver_class("rabbit")
    conf.register_opts(list(cls.options), group=cls.option_group)
    for name, value in options.items():
        conf.set_override(name, value, group=None if name == "executor_thread_pool_size" else GROUP)
    driver: AsyncDriver = cls(conf, TransportURL.parse(conf, url or env.url), env.exchange)
    return driver


def deadline_in(seconds: float) -> float:
    return time.monotonic() + seconds


from tests.amqp.conftest import oslo_peer  # noqa: E402, F401 - oslo.messaging peers, shared
