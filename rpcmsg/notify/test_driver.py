"""The ``test`` notification driver: keeps notifications in memory for assertions.

Each notification is appended to :data:`NOTIFICATIONS` as ``(ctxt, message, priority,
retry)``, as oslo.messaging's test driver does; :func:`reset` empties it (in place, so a
reference taken earlier sees the reset). The store is process-wide because notifiers build
their drivers themselves; use ``reset()`` between tests.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from rpcmsg.notify.notifier import Driver

__all__ = ["NOTIFICATIONS", "TestDriver", "reset"]

NOTIFICATIONS: list[tuple[dict[str, Any], dict[str, Any], str, int | None]] = []
_lock = threading.Lock()


def reset() -> None:
    """Forget every recorded notification."""
    with _lock:
        del NOTIFICATIONS[:]


class TestDriver(Driver):
    """Records notifications in :data:`NOTIFICATIONS`."""

    __test__ = False  # not a pytest test class

    def notify(
        self, ctxt: dict[str, Any], msg: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        try:  # a snapshot, so later changes by the caller do not rewrite history
            ctxt, msg = copy.deepcopy(ctxt), copy.deepcopy(msg)
        except Exception:
            pass
        entry = (ctxt, msg, priority, retry)
        with _lock:
            NOTIFICATIONS.append(entry)
