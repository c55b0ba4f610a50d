"""The ``log`` notification driver: writes notifications to Python logging.

Each notification is logged as JSON on the logger ``oslo.messaging.notification.<event_type>``
(the name oslo.messaging uses, so existing logging configurations keep working) with the
logger's method named after its priority: ``debug``, ``info``, ``warn`` (as ``warning``),
``error``, ``critical``. A priority the logger has no method for (``audit``, ``sample``) is
not logged, and a warning (``warnings.warn``) says so. Values under keys that look like
secrets (``password``, ``token``, ``secret`` ...) are masked as ``***``.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

from rpcmsg.notify._secrets import mask_secrets
from rpcmsg.notify.notifier import Driver

__all__ = ["LogDriver", "mask_secrets"]

# Logger.warn is a deprecated alias of Logger.warning.
_METHODS = {"warn": "warning"}


class LogDriver(Driver):
    """Logs notifications; see the module docstring."""

    LOGGER_BASE = "oslo.messaging.notification"

    def notify(self, ctxt: Any, message: dict[str, Any], priority: str, retry: int | None) -> None:
        logger = logging.getLogger(f"{self.LOGGER_BASE}.{message['event_type']}")
        name = priority.lower()
        method = getattr(logger, _METHODS.get(name, name), None)
        if method:
            method(json.dumps(mask_secrets(message), default=str))
        else:
            warnings.warn(
                "Unable to log message as notify cannot find a logger with the priority "
                f"specified {name}",
                stacklevel=2,
            )
