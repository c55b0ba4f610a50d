"""Notifier: publish notifications through the configured notification drivers.

Features: the priorities ``audit``, ``debug``, ``info``, ``warn``/``warning``, ``error``,
``critical`` and ``sample``; several drivers at once (``messagingv2``, ``messaging``, ``log``,
``test``, ``noop``, ``routing``, or any ``rpcmsg.notify.drivers`` entry point); ``prepare()``
for a cheap copy with another publisher id or retry.

Options, group ``[oslo_messaging_notifications]`` (oslo.messaging's names and defaults):
``driver`` (multi-valued, default none: nothing is sent), ``transport_url`` (default: the
RPC transport's), ``topics`` (default ``notifications``), ``retry`` (default -1).

Guarantees: a notification goes to every enabled driver, to ``<topic>.<priority>`` for each
configured topic. ``retry`` is ``None``/``-1`` to retry a failed send for ever, ``0`` never,
``N`` at most ``N`` times. A notification that cannot be sent (broker unreachable within the
retries, payload JSON cannot carry) is logged with its payload and never raised into the
caller, unless the notifier was built with ``raise_on_failure=True``: then
``MessageDeliveryFailure`` is raised once every driver was tried. Misuse is not a delivery
failure and raises ``TypeError`` at once: an ``event_type`` that is not a string, ``topics``
given as one string instead of a list.

Contexts never carry credentials onto the bus, as in oslo.messaging: ``None`` or a plain
``dict`` is replaced by ``{}``; an object is sent as its ``redacted_copy()`` (an object
without one is replaced by ``{}``, with a warning); the result goes through the serializer's
``serialize_context`` and reaches the drivers as the serializer returned it.

Drivers are loaded by name from the ``rpcmsg.notify.drivers`` entry points and kept in
``_driver_mgr``, a stevedore ``NamedExtensionManager`` as in oslo.messaging (each
extension's ``obj`` is the driver). An unknown name raises ``DriverLoadFailure``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import Any

from oslo_config import cfg
from stevedore import extension, named

from rpcmsg import _plugins
from rpcmsg import transport as msg_transport
from rpcmsg.exceptions import DriverLoadFailure, MessageDeliveryFailure
from rpcmsg.notify import _format
from rpcmsg.notify._secrets import mask_secrets
from rpcmsg.opts import NOTIFICATIONS_GROUP, register_opts
from rpcmsg.serializer import NoOpSerializer, Serializer
from rpcmsg.transport import NotificationTransport, Transport, TransportURL

__all__ = ["Driver", "Notifier", "get_notification_transport"]

_LOG = logging.getLogger(__name__)

_MARKER: Any = object()


class Driver(abc.ABC):
    """Base class of notification drivers (entry points ``rpcmsg.notify.drivers``).

    Built once per :class:`Notifier` as ``Driver(conf, topics=..., transport=...)``; the
    arguments are kept as given (``conf``, ``topics``, ``transport``).
    """

    def __init__(self, conf: cfg.ConfigOpts, topics: Sequence[str], transport: Transport) -> None:
        self.conf = conf
        self.topics = topics
        self.transport = transport

    @abc.abstractmethod
    def notify(self, ctxt: Any, msg: dict[str, Any], priority: str, retry: int | None) -> None:
        """Send one notification. ``msg`` is the message dict, ``priority`` upper case,
        ``ctxt`` the context as the notifier's serializer returned it (a dict, or an object
        with ``to_dict()``). Blocks at most as long as ``retry`` allows; raises when the
        notification could not be sent (the notifier logs it)."""


def get_notification_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Sequence[str] | None = None,
) -> Transport:
    """Build the transport notifications travel on.

    The URL is ``url``, else ``[oslo_messaging_notifications]/transport_url``, else the RPC
    ``transport_url``. Raises ``InvalidTransportURL`` or ``DriverLoadFailure``; connects lazily.
    """
    register_opts(conf)
    if url is None:
        url = conf[NOTIFICATIONS_GROUP].transport_url
    # Looked up at call time, so that tests patching ``rpcmsg.transport._get_transport`` (as
    # oslo.messaging's tests patch ``oslo_messaging.transport._get_transport``) reach here.
    return msg_transport._get_transport(
        conf, url, allowed_remote_exmods, transport_cls=NotificationTransport
    )


def load_drivers(
    conf: cfg.ConfigOpts, names: Sequence[str], topics: Sequence[str], transport: Transport
) -> list[tuple[str, Driver]]:
    """Instantiate the notification drivers ``names``. Raises ``DriverLoadFailure``."""
    drivers = []
    for name in names:
        try:
            cls = _plugins._load(_plugins.NOTIFY_DRIVER_NAMESPACE, name)
        except Exception as exc:
            raise DriverLoadFailure(
                name, exc, _plugins.installed(_plugins.NOTIFY_DRIVER_NAMESPACE)
            ) from exc
        drivers.append((name, cls(conf, topics=topics, transport=transport)))
    return drivers


def _sanitize_context(ctxt: Any) -> Any:
    """What may go on the bus of a context: see the module docstring."""
    if ctxt is None or type(ctxt) is dict:
        return {}
    try:
        return ctxt.redacted_copy()
    except AttributeError:
        _LOG.warning(
            "Unable to properly redact context for notification, omitting context from "
            "notification."
        )
        return {}


def not_sent(event_type: str, priority: str, failed: list[str]) -> MessageDeliveryFailure:
    """The error of a ``raise_on_failure`` notifier when drivers failed."""
    return MessageDeliveryFailure(
        f"Notification {event_type} ({priority}) not sent by: {'; '.join(failed)}"
    )


class Notifier:
    """Sends notifications; see the module docstring for the contract.

    ``driver`` names one driver (default: the ``driver`` option), ``topics`` overrides the
    ``topics`` option, ``retry`` the ``retry`` option. Building a notifier loads its drivers
    (``DriverLoadFailure`` for an unknown name); ``prepare()`` reuses them.
    """

    def __init__(
        self,
        transport: Transport,
        publisher_id: str | None = None,
        driver: str | None = None,
        serializer: Serializer | None = None,
        retry: int | None = None,
        topics: Sequence[str] | None = None,
        *,
        raise_on_failure: bool = False,
    ) -> None:
        if not isinstance(transport, NotificationTransport):
            _LOG.warning(
                "Using RPC transport for notifications. Please use "
                "get_notification_transport to obtain a "
                "notification transport instance."
            )
        self._setup(transport, publisher_id, driver, serializer, retry, topics, raise_on_failure)

    def _setup(
        self,
        transport: Any,
        publisher_id: str | None,
        driver: str | None,
        serializer: Serializer | None,
        retry: int | None,
        topics: Sequence[str] | None,
        raise_on_failure: bool,
    ) -> None:
        """Options and drivers; shared with the async notifier (``transport`` is an async
        transport there)."""
        conf = transport.conf
        register_opts(conf)
        group = conf[NOTIFICATIONS_GROUP]
        self.transport = transport
        self.publisher_id = publisher_id
        self.retry = retry if retry is not None else group.retry
        self.raise_on_failure = raise_on_failure
        self._driver_names = [driver] if driver is not None else list(group.driver)
        if isinstance(topics, str):
            raise TypeError(f"topics must be a list of topic names, not the string {topics!r}")
        self._topics = topics if topics is not None else group.topics
        self._serializer: Serializer = serializer or NoOpSerializer()
        loaded = load_drivers(conf, self._driver_names, self._topics, transport)
        if raise_on_failure:
            for _, obj in loaded:
                if hasattr(obj, "raise_on_failure"):
                    obj.raise_on_failure = True
        # Loaded by rpcmsg (for its clear errors), kept where oslo.messaging keeps them.
        extensions: list[extension.Extension[Driver]] = [
            extension.Extension(name, None, type(obj), obj)  # type: ignore[arg-type]
            for name, obj in loaded
        ]
        self._driver_mgr = named.NamedExtensionManager.make_test_instance(
            extensions, namespace=_plugins.NOTIFY_DRIVER_NAMESPACE
        )

    def prepare(self, publisher_id: Any = _MARKER, retry: Any = _MARKER) -> Notifier:
        """A notifier sharing this one's drivers, with another publisher id and/or retry."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if publisher_id is not _MARKER:
            clone.publisher_id = publisher_id
        if retry is not _MARKER:
            clone.retry = retry
        return clone

    def is_enabled(self) -> bool:
        """False when the ``noop`` driver alone is enabled; True otherwise, even with no
        driver at all (as in oslo.messaging)."""
        return bool(self._driver_mgr.names() != ["noop"])

    def _notify(
        self,
        ctxt: Any,
        event_type: str,
        payload: Any,
        priority: str,
        publisher_id: str | None = None,
        retry: int | None = None,
    ) -> None:
        context, message = self._prepare(ctxt, event_type, payload, priority, publisher_id)
        payload = message["payload"]
        retry = self.retry if retry is None else retry
        failed: list[str] = []
        for ext in self._driver_mgr.extensions:
            try:
                ext.obj.notify(context, message, priority, retry)  # type: ignore[union-attr]
            except Exception as exc:
                failed.append(f"{ext.name} ({exc})")
                _LOG.exception(
                    "Problem '%(e)s' attempting to send to notification system. "
                    "Payload=%(payload)s",
                    {"e": exc, "payload": mask_secrets(payload)},
                )
        if failed and self.raise_on_failure:
            raise not_sent(event_type, priority, failed)

    def _prepare(
        self, ctxt: Any, event_type: str, payload: Any, priority: str, publisher_id: str | None
    ) -> tuple[Any, dict[str, Any]]:
        """The context (sanitized, serialized) and the message of a notification; shared
        with the async notifier. ``TypeError`` for an ``event_type`` that is no string."""
        if not isinstance(event_type, str):
            raise TypeError(f"event_type must be a string, not {type(event_type).__name__}")
        payload = self._serializer.serialize_entity(ctxt, payload)
        context = self._serializer.serialize_context(_sanitize_context(ctxt))
        message = _format.build(publisher_id or self.publisher_id, event_type, priority, payload)
        return context, message

    def audit(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at audit priority."""
        self._notify(ctxt, event_type, payload, "AUDIT")

    def debug(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at debug priority."""
        self._notify(ctxt, event_type, payload, "DEBUG")

    def info(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at info priority."""
        self._notify(ctxt, event_type, payload, "INFO")

    def warn(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at warn priority."""
        self._notify(ctxt, event_type, payload, "WARN")

    warning = warn

    def error(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at error priority."""
        self._notify(ctxt, event_type, payload, "ERROR")

    def critical(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at critical priority."""
        self._notify(ctxt, event_type, payload, "CRITICAL")

    def sample(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at sample priority: frequent, small events (some drivers,
        like ``log``, drop them)."""
        self._notify(ctxt, event_type, payload, "SAMPLE")
