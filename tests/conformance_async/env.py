"""The async drivers the async conformance suite runs on, and each test's environment.

Every name registered under the ``rpcmsg.async_drivers`` entry points that has a
:class:`tests.drivers.DriverSpec` (``fake``, ``rabbit``, ``redis``; aliases such as ``amqp``
count once) runs the whole of ``tests/conformance_async``. As for the sync suite, a driver
whose broker is unreachable skips on a developer machine and fails in CI (``CI`` set);
``RPCMSG_TEST_DRIVERS`` narrows the choice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from oslo_config import cfg

import rpcmsg
import rpcmsg.asyncio as aio
from rpcmsg import _plugins
from tests.drivers import IN_CI, SPECS, DriverEnv, selected


#: The async drivers registered that the suite knows how to reach, once per driver class.
def async_drivers() -> list[str]:
    names = []
    seen: set[Any] = set()
    for name in _plugins.installed(_plugins.ASYNC_DRIVER_NAMESPACE):
        if name not in SPECS or name not in selected():
            continue
        try:
            cls = _plugins.load_async_driver_class(name)
        except rpcmsg.DriverLoadFailure:
            cls = name  # listed, failing to load: make_env reports it
        if cls not in seen:
            seen.add(cls)
            names.append(name)
    return names


class AsyncDriverEnv(DriverEnv):
    """A :class:`DriverEnv` (isolated exchange, unique topics, sync transports, servers and
    clients) with the async side on the same URL and configuration."""

    def __init__(self, name: str) -> None:
        super().__init__(SPECS[name])
        self._atransports: list[aio.AsyncTransport] = []
        self._aservers: list[Any] = []

    @property
    def capabilities(self) -> Any:
        return _plugins.load_async_driver_class(self.spec.scheme).capabilities

    def atransport(self, conf: cfg.ConfigOpts | None = None, **kwargs: Any) -> aio.AsyncTransport:
        transport = aio.get_rpc_transport(conf or self.conf(), self.url, **kwargs)
        self._atransports.append(transport)
        return transport

    def anotification_transport(self, conf: cfg.ConfigOpts | None = None) -> aio.AsyncTransport:
        transport = aio.get_notification_transport(conf or self.conf(), self.url)
        self._atransports.append(transport)
        return transport

    def atrack(self, server: Any) -> Any:
        self._aservers.append(server)
        return server

    async def aserver(
        self, topic: str, endpoints: list[Any], server: str = "s1", **kwargs: Any
    ) -> aio.RPCServer:
        """A started async RPC server on a fresh async transport."""
        transport = kwargs.pop("transport", None) or self.atransport()
        srv = aio.get_rpc_server(
            transport, rpcmsg.Target(topic=topic, server=server), endpoints, **kwargs
        )
        await srv.start()
        return self.atrack(srv)

    def aclient(self, topic: str, **kwargs: Any) -> aio.RPCClient:
        transport = kwargs.pop("transport", None) or self.atransport()
        return aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), **kwargs)

    async def aclose(self) -> None:
        for srv in self._aservers:
            with contextlib.suppress(Exception):
                await srv.stop()
                await asyncio.wait_for(srv.wait(), 30)
        for transport in self._atransports:
            with contextlib.suppress(Exception):
                await transport.cleanup()
        # The sync side blocks: in a thread, so that replies to this loop still flow.
        await asyncio.to_thread(self.close)


def make_async_env(name: str) -> AsyncDriverEnv:
    spec = SPECS[name]
    why = spec.unavailable()
    if why is None:
        try:
            _plugins.load_async_driver_class(spec.scheme)
        except rpcmsg.DriverLoadFailure as exc:
            why = f"async driver {spec.scheme} does not load: {exc}"
    if why:
        if IN_CI:
            pytest.fail(f"CI needs {name}: {why}")
        pytest.skip(why)
    return AsyncDriverEnv(name)
