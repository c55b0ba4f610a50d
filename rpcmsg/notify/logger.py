"""LoggingNotificationHandler: a ``logging.Handler`` that sends log records as notifications.

Each record becomes a notification of event type ``logrecord`` at the priority named after
its level name (``debug``, ``info``, ``warning`` as ``WARN``, ``error``, ``critical``, and
custom levels named ``AUDIT``, ``WARN`` or ``SAMPLE``, such as oslo.log's ``AUDIT``; records
of other levels are not sent), with a payload describing the record (``exc_info`` as the
formatted traceback text, JSON cannot carry the exception objects). Usable from a logging
configuration file::

    [handler_notifier]
    class=rpcmsg.LoggingNotificationHandler
    level=ERROR
    args=('rabbit:///',)

A record that cannot be sent is reported by ``logging``'s ``handleError``, never raised.
Records logged while a record is being sent (by the notifier, a driver, or the ``log``
driver writing the notification itself) are not sent, so the handler cannot feed on itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from oslo_config import cfg

from rpcmsg.notify.notifier import Notifier, get_notification_transport

__all__ = ["LoggingNotificationHandler"]


def record_payload(record: logging.LogRecord) -> dict[str, Any]:
    """The notification payload describing ``record`` (JSON-friendly)."""
    exc_info = record.exc_info
    return {
        "name": record.name,
        "levelno": record.levelno,
        "levelname": record.levelname,
        "exc_info": (
            logging.Formatter().formatException(exc_info)
            if exc_info and exc_info[0] is not None
            else None
        ),
        "pathname": record.pathname,
        "lineno": record.lineno,
        "msg": record.getMessage(),
        "funcName": record.funcName,
        "thread": record.thread,
        "processName": record.processName,
        "process": record.process,
        "extra": getattr(record, "extra", None),
    }


class LoggingNotificationHandler(logging.Handler):
    """Sends each log record as a notification; see the module docstring.

    ``CONF`` is the configuration read (a subclass may point it elsewhere); ``url`` the
    notification transport URL; ``topic`` one topic or a list; ``serializer`` a class.
    """

    CONF: cfg.ConfigOpts = cfg.CONF

    def __init__(
        self,
        url: str | None,
        publisher_id: str | None = None,
        driver: str | None = None,
        topic: str | list[str] | None = None,
        serializer: Any = None,
    ) -> None:
        super().__init__()
        topics = topic if isinstance(topic, list) or topic is None else [topic]
        self.notifier = Notifier(
            get_notification_transport(self.CONF, url),
            publisher_id,
            driver,
            serializer() if serializer else None,
            topics=topics,
        )

    def emit(self, record: logging.LogRecord) -> None:
        method = getattr(self.notifier, record.levelname.lower(), None)
        if method is None or record.levelname.lower() not in _SENT_LEVELS:
            return
        with sending() as first:
            if not first:
                return
            try:
                method(None, "logrecord", record_payload(record))
            except Exception:
                self.handleError(record)


# The notifier's priority methods, the level names that are sent.
_SENT_LEVELS = frozenset(
    {"audit", "debug", "info", "warn", "warning", "error", "critical", "sample"}
)
_sending = threading.local()


class sending:
    """Marks the current thread as sending a log record; ``as`` gives whether it was not
    already (the outermost send)."""

    def __enter__(self) -> bool:
        self._first = not getattr(_sending, "active", False)
        _sending.active = True
        return self._first

    def __exit__(self, *exc: object) -> None:
        if self._first:
            _sending.active = False
