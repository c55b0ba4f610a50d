"""The in-memory fake driver (``fake://``)."""

from __future__ import annotations

from rpcmsg_drivers.fake.broker import FakeBroker, get_broker, reset_broker
from rpcmsg_drivers.fake.driver import FakeDriver

__all__ = ["FakeBroker", "FakeDriver", "get_broker", "reset_broker"]
