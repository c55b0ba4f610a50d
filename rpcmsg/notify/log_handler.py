"""LoggingErrorNotificationHandler (alias PublishErrorsHandler): sends error log records as
``error_notification`` notifications with publisher id ``error.publisher``.

It reads the global ``cfg.CONF``. When the ``log`` notification driver is enabled the handler
sends nothing: the log driver would log the notification, which would be sent again, for ever.
Records logged while a record is being sent are not sent either.
"""

from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg

from rpcmsg.notify.logger import sending
from rpcmsg.notify.notifier import Notifier, get_notification_transport
from rpcmsg.opts import NOTIFICATIONS_GROUP

__all__ = ["LoggingErrorNotificationHandler", "PublishErrorsHandler"]


class LoggingErrorNotificationHandler(logging.Handler):
    """Publishes log records as error notifications; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._transport = get_notification_transport(cfg.CONF)
        self._notifier = Notifier(self._transport, publisher_id="error.publisher")

    def emit(self, record: logging.LogRecord) -> None:
        if "log" in self._transport.conf[NOTIFICATIONS_GROUP].driver:
            return
        with sending() as first:
            if not first:
                return  # logged while sending a record: sending it would feed on itself
            try:
                self._notifier.error({}, "error_notification", {"error": record.getMessage()})
            except Exception:
                self.handleError(record)


PublishErrorsHandler = LoggingErrorNotificationHandler
