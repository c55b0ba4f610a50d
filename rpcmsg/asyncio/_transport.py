"""Async transports: an async driver (``rpcmsg.async_drivers``, chosen by the URL's scheme)
plus the reply correlation above it; the same URLs and configuration as the sync side."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from oslo_config import cfg

from rpcmsg import _calls, _observe, _plugins, _wire
from rpcmsg._url import TransportURL
from rpcmsg.asyncio._reply import AsyncReplyWaiter
from rpcmsg.driver.aio import AsyncDriver
from rpcmsg.exceptions import DriverLoadFailure, InvalidTarget, InvalidTransportURL
from rpcmsg.notify import _format
from rpcmsg.opts import NOTIFICATIONS_GROUP, register_opts
from rpcmsg.target import Target
from rpcmsg.transport import TransportOptions

__all__ = [
    "AsyncNotificationTransport",
    "AsyncRPCTransport",
    "AsyncTransport",
    "get_notification_transport",
    "get_rpc_transport",
]


class AsyncTransport:
    """An async messaging transport: one async driver and the reply correlation above it.

    Build one with :func:`get_rpc_transport` or :func:`get_notification_transport` in the
    event loop that uses it, share it between clients and servers of that loop, and
    ``await transport.cleanup()`` once at the end.
    """

    def __init__(self, driver: AsyncDriver, allowed_remote_exmods: Iterable[str] = ()) -> None:
        self.conf: cfg.ConfigOpts = driver.conf
        self._driver = driver
        #: ``max_message_size``: the largest body sent or accepted.
        self.max_message_size = _wire.max_size(self.conf)
        self._replies = AsyncReplyWaiter(driver, allowed_remote_exmods)
        self._closed = False

    @property
    def driver(self) -> AsyncDriver:
        return self._driver

    @property
    def url(self) -> TransportURL:
        return self._driver.url

    def _require_exchange(self, exchange: str | None) -> str:
        return exchange or self._driver.default_exchange

    async def _send(
        self,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        wait_for_reply: bool | None = None,
        timeout: float | None = None,
        call_monitor_timeout: float | None = None,
        retry: int | None = None,
        transport_options: TransportOptions | None = None,
    ) -> Any:
        """As the sync ``Transport._send`` (same protocol, :mod:`rpcmsg._calls`), awaited.

        Cancelling it (a task cancelled, an ``asyncio.timeout()`` expiring) unregisters the
        call's waiter; the transport stays usable.
        """
        hooks = _observe.hooks
        if hooks is not None:
            return await hooks.asend(
                AsyncTransport._send_plain,
                self,
                target,
                ctxt,
                message,
                wait_for_reply,
                timeout,
                call_monitor_timeout,
                retry,
                transport_options,
            )
        return await self._send_plain(
            target,
            ctxt,
            message,
            wait_for_reply,
            timeout,
            call_monitor_timeout,
            retry,
            transport_options,
        )

    async def _send_plain(
        self,
        target: Target,
        ctxt: Any,
        message: dict[str, Any],
        wait_for_reply: bool | None,
        timeout: float | None,
        call_monitor_timeout: float | None,
        retry: int | None,
        transport_options: TransportOptions | None,
    ) -> Any:
        """:meth:`_send` without the observability hooks."""
        _calls.check_target(target, bool(wait_for_reply))
        if not target.exchange:
            target = target(exchange=self._require_exchange(None))
        message = _calls.request(message, ctxt)
        mandatory = bool(transport_options and transport_options.at_least_once)
        driver = self._driver
        if not wait_for_reply:
            body = _calls.encode(message, self.max_message_size, "a cast")
            await driver.send(target, body, expiration=None, retry=retry, mandatory=mandatory)
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        replies = self._replies
        address = await replies.address_by(deadline)
        msg_id = _calls.address_call(message, address, call_monitor_timeout)
        body = _calls.encode(message, self.max_message_size, "a call")
        future = replies.register(msg_id, deadline, call_monitor_timeout)
        try:
            await driver.send(
                target,
                body,
                expiration=timeout,
                retry=retry,
                mandatory=mandatory,
                deadline=deadline,
            )
            return await future
        finally:
            replies.unregister(msg_id)

    async def _asend_notification(
        self, target: Target, ctxt: Any, message: dict[str, Any], version: float, retry: Any = None
    ) -> None:
        """As the sync ``Transport._send_notification``, awaited."""
        hooks = _observe.hooks
        if hooks is not None:
            await hooks.asend_notification(
                AsyncTransport._publish_notification, self, target, ctxt, message, version, retry
            )
        else:
            await self._publish_notification(target, ctxt, message, version, retry)

    async def _publish_notification(
        self, target: Target, ctxt: Any, message: dict[str, Any], version: float, retry: Any
    ) -> None:
        """:meth:`_asend_notification` without the observability hooks."""
        if not target.topic:
            raise InvalidTarget("A topic is required to send", target)
        body = _format.encode_checked(ctxt, message, version, self.max_message_size)
        address = Target(exchange=self._require_exchange(target.exchange), topic=target.topic)
        await self._driver.send_notification(address, body, retry=retry)

    def _send_notification(self, *args: Any, **kwargs: Any) -> None:
        """Sync notification drivers that publish (``routing``) cannot run on an async
        transport: a clear error rather than a coroutine never awaited."""
        raise TypeError("this notification driver is sync only; use messaging or messagingv2")

    async def cleanup(self) -> None:
        """Release the driver's connections; the transport is unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        await self._replies.close()
        await self._driver.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._driver.url.to_string(mask=True)}>"


class AsyncRPCTransport(AsyncTransport):
    """An async transport for RPC clients and servers."""


class AsyncNotificationTransport(AsyncTransport):
    """An async transport for notifiers and notification listeners."""


def _get_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None,
    allowed_remote_exmods: Iterable[str] | None,
    transport_cls: type[AsyncTransport],
) -> AsyncTransport:
    register_opts(conf)
    _observe.configure(conf)
    if not isinstance(url, TransportURL):
        url = TransportURL.parse(conf, url)
    if not url.transport:
        raise InvalidTransportURL(
            str(url), f"Invalid transport URL {url.to_string(mask=True)}: no driver named"
        )
    driver_cls = _plugins.load_async_driver_class(url.transport)
    try:
        driver = driver_cls(conf, url, default_exchange=conf.control_exchange)
    except (DriverLoadFailure, InvalidTransportURL):
        raise
    except Exception as exc:
        raise DriverLoadFailure(
            url.transport, exc, _plugins.installed(_plugins.ASYNC_DRIVER_NAMESPACE)
        ) from exc
    return transport_cls(driver, allowed_remote_exmods or ())


def get_rpc_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Iterable[str] | None = None,
    transport_cls: type[AsyncTransport] = AsyncRPCTransport,
) -> AsyncTransport:
    """The async RPC transport for ``url`` (default ``conf.transport_url``): the async
    driver registered for its scheme. Raises ``InvalidTransportURL`` or
    ``DriverLoadFailure``; connects lazily (no I/O here, no loop needed)."""
    return _get_transport(conf, url, allowed_remote_exmods, transport_cls)


def get_notification_transport(
    conf: cfg.ConfigOpts,
    url: str | TransportURL | None = None,
    allowed_remote_exmods: Iterable[str] | None = None,
) -> AsyncTransport:
    """The async transport notifications travel on: ``url``, else
    ``[oslo_messaging_notifications]/transport_url``, else ``transport_url``."""
    register_opts(conf)
    if url is None:
        url = conf[NOTIFICATIONS_GROUP].transport_url
    return _get_transport(conf, url, allowed_remote_exmods, AsyncNotificationTransport)
