"""Notifications, compatible with ``oslo_messaging.notify``.

Publishing: :class:`Notifier` sends events through the notification drivers enabled in
``[oslo_messaging_notifications]`` (``messagingv2``, ``messaging``, ``log``, ``test``,
``noop``, ``routing``) on a transport from :func:`get_notification_transport`.

Consuming: :func:`get_notification_listener` and :func:`get_batch_notification_listener`
deliver notifications to endpoint methods named after priorities, screened by a
:class:`NotificationFilter`, acknowledged once handled (:class:`NotificationResult`).

Logging: :class:`LoggingNotificationHandler` sends log records as notifications;
:class:`LoggingErrorNotificationHandler` (alias :class:`PublishErrorsHandler`) sends errors.

WSGI: ``rpcmsg.notify.middleware.RequestNotifier`` notifies each HTTP request and response
(import the module itself; this package does not, as in oslo.messaging).

Modules: ``notifier`` (Notifier, driver base, transport), ``listener``, ``dispatcher``,
``filter``, ``logger``, ``log_handler``, ``middleware``, ``messaging``, ``log_driver``,
``test_driver``, ``noop``, ``routing``; ``_format`` holds the wire format.
"""

from __future__ import annotations

from rpcmsg.notify.dispatcher import NotificationResult
from rpcmsg.notify.filter import NotificationFilter
from rpcmsg.notify.listener import get_batch_notification_listener, get_notification_listener
from rpcmsg.notify.log_handler import LoggingErrorNotificationHandler, PublishErrorsHandler
from rpcmsg.notify.logger import LoggingNotificationHandler
from rpcmsg.notify.notifier import Notifier, get_notification_transport

__all__ = [
    "LoggingErrorNotificationHandler",
    "LoggingNotificationHandler",
    "NotificationFilter",
    "NotificationResult",
    "Notifier",
    "PublishErrorsHandler",
    "get_batch_notification_listener",
    "get_notification_listener",
    "get_notification_transport",
]
