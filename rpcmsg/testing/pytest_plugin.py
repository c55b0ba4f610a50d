"""pytest plugin (entry point ``pytest11``): fixtures for testing code built on rpcmsg.

* ``rpcmsg_url``: a ``fake://`` URL with a broker of its own for this test.
* ``rpcmsg_conf``: an ``oslo.config`` ``ConfigOpts`` with rpcmsg's options registered and
  ``transport_url`` set to ``rpcmsg_url``.
* ``rpcmsg_transport``: an RPC transport on that URL, cleaned up after the test.
* ``rpcmsg_server``: a factory ``rpcmsg_server(topic, endpoints, server="server", **kw)``
  returning a started server, stopped after the test.

For asyncio tests (with pytest-asyncio installed; the test marked ``asyncio``):

* ``rpcmsg_async_transport``: an :mod:`rpcmsg.asyncio` RPC transport on ``rpcmsg_url``
  (the async fake: the same broker as ``rpcmsg_transport``, so sync and async code under
  test reach each other), cleaned up after the test.
* ``rpcmsg_async_server``: an async factory ``await rpcmsg_async_server(topic, endpoints,
  server="server", **kw)`` returning a started async server, stopped and waited for after
  the test.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from oslo_config import cfg

from rpcmsg.opts import register_opts
from rpcmsg.target import Target
from rpcmsg.testing.helpers import RunningServer, forget_fake_broker, fresh_fake_url
from rpcmsg.transport import Transport, get_rpc_transport


@pytest.fixture
def rpcmsg_url() -> Iterator[str]:
    url = fresh_fake_url()
    yield url
    forget_fake_broker(url)


@pytest.fixture
def rpcmsg_conf(rpcmsg_url: str) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf([], project="rpcmsg-test")
    register_opts(conf)
    conf.set_override("transport_url", rpcmsg_url)
    return conf


@pytest.fixture
def rpcmsg_transport(rpcmsg_conf: cfg.ConfigOpts) -> Iterator[Transport]:
    transport = get_rpc_transport(rpcmsg_conf)
    yield transport
    transport.cleanup()


@pytest.fixture
def rpcmsg_server(
    rpcmsg_transport: Transport,
) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def factory(topic: str, endpoints: list[Any], server: str = "server", **kw: Any) -> Any:
        running = RunningServer(rpcmsg_transport, topic, endpoints, server, **kw)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        running.close()


# No async fixtures without pytest-asyncio (a test extra, not a dependency).
if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    import rpcmsg.asyncio as _aio

    @pytest_asyncio.fixture
    async def rpcmsg_async_transport(
        rpcmsg_conf: cfg.ConfigOpts,
    ) -> AsyncIterator[_aio.AsyncTransport]:
        transport = _aio.get_rpc_transport(rpcmsg_conf)
        yield transport
        await transport.cleanup()

    @pytest_asyncio.fixture
    async def rpcmsg_async_server(
        rpcmsg_async_transport: _aio.AsyncTransport,
    ) -> AsyncIterator[Callable[..., Awaitable[_aio.RPCServer]]]:
        started: list[_aio.RPCServer] = []

        async def factory(
            topic: str, endpoints: list[Any], server: str = "server", **kw: Any
        ) -> _aio.RPCServer:
            srv = _aio.get_rpc_server(
                rpcmsg_async_transport, Target(topic=topic, server=server), endpoints, **kw
            )
            await srv.start()
            started.append(srv)
            return srv

        yield factory
        for srv in reversed(started):
            await srv.stop()
            await srv.wait()
