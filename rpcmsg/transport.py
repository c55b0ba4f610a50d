"""Transports: a driver chosen by URL, and the entry points that build one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from oslo_config import cfg

from rpcmsg import _observe, _plugins, _rpcsend, _wire
from rpcmsg._reply import ReplyWaiter
from rpcmsg._url import TransportHost, TransportURL
from rpcmsg.driver.base import Driver
from rpcmsg.exceptions import (
    ConfigurationError,
    DriverLoadFailure,
    InvalidTarget,
    InvalidTransportURL,
)
from rpcmsg.opts import register_opts, transport_opts
from rpcmsg.target import Target

__all__ = [
    "DriverLoadFailure",
    "InvalidTransportURL",
    "NotificationTransport",
    "RPCTransport",
    "Transport",
    "TransportHost",
    "TransportOptions",
    "TransportURL",
    "get_rpc_transport",
    "get_transport",
    "set_transport_defaults",
]

LOG = logging.getLogger(__name__)


class TransportOptions:
    """Per-message options a client passes to the driver.

    ``at_least_once=True`` makes a call fail at once with ``MessageUndeliverable`` when no
    queue takes its request (drivers with the ``mandatory`` capability), instead of waiting
    for the timeout.
    """

    def __init__(self, at_least_once: bool = False) -> None:
        self.at_least_once = at_least_once

    def __repr__(self) -> str:
        return f"<TransportOptions at_least_once={self.at_least_once}>"


class Transport:
    """A messaging transport: one driver instance plus the reply correlation above it.

    Build one with :func:`get_rpc_transport` or
    :func:`rpcmsg.notify.get_notification_transport`, share it between clients and servers
    of a process, and call :meth:`cleanup` once at the end.
    """

    def __init__(self, driver: Driver, allowed_remote_exmods: Iterable[str] = ()) -> None:
        self.conf: cfg.ConfigOpts = driver.conf
        self._driver = driver
        self._allowed_remote_exmods = list(allowed_remote_exmods)
        #: ``max_message_size``: the largest body sent or accepted.
        self.max_message_size = _wire.max_size(self.conf)
        self._replies = ReplyWaiter(driver, self._allowed_remote_exmods)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def driver(self) -> Driver:
        return self._driver

    @property
    def url(self) -> TransportURL:
        return self._driver.url

    def _require_exchange(self, exchange: str | None) -> str:
        return exchange or self._driver.default_exchange

    def _send_notification(
        self, target: Target, ctxt: Any, message: dict[str, Any], version: float, retry: Any = None
    ) -> None:
        """Publish one notification (oslo.messaging's notification drivers' entry point):
        ``message`` with ``ctxt`` (a dict or an object with ``to_dict()``) flattened in, in
        format ``version`` (1.0 bare, 2.0 enveloped), to ``target.topic`` in
        ``target.exchange`` (default ``control_exchange``). Raises ``InvalidTarget`` without
        a topic, ``TypeError``/``ValueError`` for what JSON cannot carry,
        ``MessageDeliveryFailure`` for a body over ``max_message_size``, and the driver's
        errors."""
        hooks = _observe.hooks
        if hooks is not None:
            hooks.send_notification(
                Transport._publish_notification, self, target, ctxt, message, version, retry
            )
        else:
            self._publish_notification(target, ctxt, message, version, retry)

    def _publish_notification(
        self, target: Target, ctxt: Any, message: dict[str, Any], version: float, retry: Any
    ) -> None:
        """:meth:`_send_notification` without the observability hooks."""
        from rpcmsg.notify import _format  # the notify package imports this module

        if not target.topic:
            raise InvalidTarget("A topic is required to send", target)
        body = _format.encode_checked(ctxt, message, version, self.max_message_size)
        address = Target(exchange=self._require_exchange(target.exchange), topic=target.topic)
        self._driver.send_notification(address, body, retry=retry)

    #: oslo.messaging's client-to-transport seam: ``_send(target, ctxt, message, ...)``.
    _send = _rpcsend.send

    def cleanup(self) -> None:
        """Release the driver's connections; the transport is unusable afterwards."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._replies.close()
        self._driver.cleanup()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._driver.url.to_string(mask=True)}>"


class RPCTransport(Transport):
    """A transport for RPC clients and servers."""


class NotificationTransport(Transport):
    """A transport for notifiers and notification listeners."""


def set_transport_defaults(control_exchange: str) -> None:
    """Set the default ``control_exchange`` (before configuration files are parsed)."""
    cfg.set_defaults(transport_opts, control_exchange=control_exchange)


def _get_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Iterable[str] | None = None,
    transport_cls: type[Transport] = RPCTransport,
) -> Transport:
    register_opts(conf)
    _observe.configure(conf)
    if not isinstance(url, TransportURL):
        url = TransportURL.parse(conf, url)
    if not url.transport:
        raise InvalidTransportURL(
            str(url), f"Invalid transport URL {url.to_string(mask=True)}: no driver named"
        )
    driver_cls = _plugins.load_driver_class(url.transport)
    try:
        driver = driver_cls(conf, url, default_exchange=conf.control_exchange)
    except (DriverLoadFailure, InvalidTransportURL, ConfigurationError):
        raise
    except Exception as exc:
        raise DriverLoadFailure(url.transport, exc, _plugins.installed(_plugins.DRIVER_NAMESPACE))
    return transport_cls(driver, allowed_remote_exmods or ())


def get_rpc_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Iterable[str] | None = None,
    transport_cls: type[Transport] = RPCTransport,
) -> Transport:
    """Build the RPC transport for ``url`` (default: ``conf.transport_url``).

    ``allowed_remote_exmods`` lists the modules whose exceptions a call may rebuild as their
    own class. Raises ``InvalidTransportURL`` or ``DriverLoadFailure``; connects lazily.
    """
    return _get_transport(conf, url, allowed_remote_exmods, transport_cls)


def get_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Iterable[str] | None = None,
    transport_cls: type[Transport] = RPCTransport,
) -> Transport:
    """Deprecated alias of :func:`get_rpc_transport`, kept for old callers."""
    return _get_transport(conf, url, allowed_remote_exmods, transport_cls)
