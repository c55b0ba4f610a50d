"""Fixtures shared by the unit tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg.notify import _impl_test as test_driver
from rpcmsg.opts import register_opts


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    """A configuration of its own with rpcmsg's options registered."""
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    return conf


@pytest.fixture
def transport(conf: cfg.ConfigOpts) -> Iterator[rpcmsg.Transport]:
    """A notification transport on a fake broker of its own."""
    transport = rpcmsg.get_notification_transport(conf, f"fake:///{uuid.uuid4().hex}")
    yield transport
    transport.cleanup()


@pytest.fixture(autouse=True)
def _fresh_test_driver() -> Iterator[None]:
    """Every unit test starts and ends with an empty ``_impl_test.NOTIFICATIONS``."""
    test_driver.reset()
    yield
    test_driver.reset()


@pytest.fixture
def global_conf() -> Iterator[cfg.ConfigOpts]:
    """``cfg.CONF`` (which notify handlers and middleware read) with the ``test`` notify
    driver on a broker of its own; restored afterwards."""
    conf = cfg.CONF
    register_opts(conf)
    conf.set_override("driver", ["test"], group="oslo_messaging_notifications")
    conf.set_override("transport_url", f"fake:///{uuid.uuid4().hex}")
    test_driver.reset()
    yield conf
    conf.clear_override("driver", group="oslo_messaging_notifications")
    conf.clear_override("transport_url")
    test_driver.reset()
