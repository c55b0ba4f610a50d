"""Notifications (``oslo_messaging.notify`` compatible). Filled by the notifications work."""

from __future__ import annotations

__all__: list[str] = []
