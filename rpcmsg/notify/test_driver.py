"""Former name of :mod:`rpcmsg.notify._impl_test` (oslo.messaging's name), kept for rpcmsg's
earlier users and for installed entry points that still name it."""

from rpcmsg.notify._impl_test import NOTIFICATIONS, TestDriver, reset

__all__ = ["NOTIFICATIONS", "TestDriver", "reset"]
