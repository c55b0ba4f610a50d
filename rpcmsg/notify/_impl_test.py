"""The ``test`` notification driver: keeps notifications in memory for assertions.

Each notification is appended to :data:`NOTIFICATIONS` as ``(ctxt, message, priority,
retry)``, as oslo.messaging's ``oslo_messaging.notify._impl_test`` does: ``ctxt`` as the
notifier's serializer returned it, ``message`` the message dict (``message_id``,
``publisher_id``, ``event_type``, ``priority`` upper case, ``payload``, ``timestamp``).
:func:`reset` empties it. The list is looked up when a notification is recorded, so a test
may also replace it (``mock.patch.object(_impl_test, "NOTIFICATIONS", [])``); ``reset()``
empties it in place, so a reference taken earlier sees the reset too. The store is
process-wide because notifiers build their drivers themselves: call ``reset()`` between
tests.
"""

from __future__ import annotations

import threading
from typing import Any

from rpcmsg.notify.notifier import Driver

__all__ = ["NOTIFICATIONS", "TestDriver", "reset"]

NOTIFICATIONS: list[tuple[Any, dict[str, Any], str, int | None]] = []
_lock = threading.Lock()


def reset() -> None:
    """Forget every recorded notification."""
    with _lock:
        del NOTIFICATIONS[:]


class TestDriver(Driver):
    """Records notifications in :data:`NOTIFICATIONS`."""

    __test__ = False  # not a pytest test class

    def notify(self, ctxt: Any, message: dict[str, Any], priority: str, retry: int | None) -> None:
        with _lock:
            NOTIFICATIONS.append((ctxt, message, priority, retry))
