"""The public driver seam, for writing a driver (ours or a third party's).

See :mod:`rpcmsg.driver.base` for the contract and ``docs/DRIVERS.md`` for a guide.
"""

from __future__ import annotations

from rpcmsg.driver.base import (
    JSON,
    Capabilities,
    Driver,
    IncomingMessage,
    Listener,
    ReplyConsumer,
    ReplyHandler,
)
from rpcmsg.driver.settings import load_settings

__all__ = [
    "JSON",
    "Capabilities",
    "Driver",
    "IncomingMessage",
    "Listener",
    "ReplyConsumer",
    "ReplyHandler",
    "load_settings",
]
