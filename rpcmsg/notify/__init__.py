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

Modules, with oslo.messaging's names: ``notifier`` (Notifier, the driver base ``Driver``,
transport), ``listener`` (``NotificationServerBase``, ``NotificationServer``,
``BatchNotificationServer``), ``dispatcher``, ``filter``, ``logger``, ``log_handler``,
``middleware``, and the drivers ``messaging``, ``_impl_log``, ``_impl_test`` (whose
``NOTIFICATIONS`` and ``reset()`` tests read), ``_impl_noop``, ``_impl_routing``;
``_format`` holds the wire format. The package also offers ``Driver`` and the three server
classes, as oslo.messaging's does (outside ``__all__``).
"""

from __future__ import annotations

from rpcmsg.notify import _impl_test as _impl_test
from rpcmsg.notify.dispatcher import NotificationResult
from rpcmsg.notify.filter import NotificationFilter
from rpcmsg.notify.listener import (
    BatchNotificationServer as BatchNotificationServer,
)
from rpcmsg.notify.listener import (
    NotificationServer as NotificationServer,
)
from rpcmsg.notify.listener import (
    NotificationServerBase as NotificationServerBase,
)
from rpcmsg.notify.listener import (
    get_batch_notification_listener,
    get_notification_listener,
)
from rpcmsg.notify.log_handler import LoggingErrorNotificationHandler, PublishErrorsHandler
from rpcmsg.notify.logger import LoggingNotificationHandler
from rpcmsg.notify.notifier import Driver as Driver
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
