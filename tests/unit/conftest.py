"""Fixtures shared by the unit tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from oslo_config import cfg

from rpcmsg.notify import _impl_test as test_driver
from rpcmsg.opts import register_opts


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
