"""pytest plugin (entry point ``pytest11``): fixtures for testing code built on rpcmsg.

* ``rpcmsg_url``: a ``fake://`` URL with a broker of its own for this test.
* ``rpcmsg_conf``: an ``oslo.config`` ``ConfigOpts`` with rpcmsg's options registered and
  ``transport_url`` set to ``rpcmsg_url``.
* ``rpcmsg_transport``: an RPC transport on that URL, cleaned up after the test.
* ``rpcmsg_server``: a factory ``rpcmsg_server(topic, endpoints, server="server", **kw)``
  returning a started server, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from oslo_config import cfg

from rpcmsg.opts import register_opts
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
