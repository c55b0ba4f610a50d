"""The ``noop`` notification driver: drops every notification.

Enabled alone it turns notifications off (``Notifier.is_enabled()`` is then False).
"""

from __future__ import annotations

from typing import Any

from rpcmsg.notify.notifier import Driver

__all__ = ["NoOpDriver"]


class NoOpDriver(Driver):
    """Sends nothing."""

    def notify(
        self, ctxt: dict[str, Any], msg: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        return None
