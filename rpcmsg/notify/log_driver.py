"""The ``log`` notification driver: writes notifications to Python logging.

Each notification is logged as JSON on the logger ``oslo.messaging.notification.<event_type>``
(the name oslo.messaging uses, so existing logging configurations keep working) at the level
of its priority: ``debug``, ``info``, ``warn`` (as WARNING), ``error``, ``critical``.
``audit`` and ``sample`` have no logging level: such notifications are not logged, and a
warning says so. Values under keys that look like secrets (``password``, ``token``,
``secret`` ...) are masked as ``***``.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

from rpcmsg.notify._secrets import mask_secrets
from rpcmsg.notify.notifier import Driver

__all__ = ["LogDriver", "mask_secrets"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class LogDriver(Driver):
    """Logs notifications; see the module docstring."""

    LOGGER_BASE = "oslo.messaging.notification"

    def notify(
        self, ctxt: dict[str, Any], msg: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        level = _LEVELS.get(priority.lower())
        if level is None:
            warnings.warn(
                f"The log notification driver cannot log priority {priority.lower()!r}",
                stacklevel=2,
            )
            return
        logger = logging.getLogger(f"{self.LOGGER_BASE}.{msg.get('event_type')}")
        if logger.isEnabledFor(level):
            logger.log(level, json.dumps(mask_secrets(msg), default=repr))
