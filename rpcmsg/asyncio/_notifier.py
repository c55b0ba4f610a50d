"""The async notifier: ``await notifier.info(ctxt, event_type, payload)`` and the other
priorities, with the sync :class:`rpcmsg.notify.Notifier`'s options, drivers, context
sanitizing, serializer and failure handling (see its module docstring).

The ``messaging`` and ``messagingv2`` drivers publish with awaited I/O on the async
transport; ``log``, ``test`` and ``noop`` do no I/O and are called in place. ``routing``
is sync only (its failure is reported as any driver's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rpcmsg.asyncio._transport import AsyncRPCTransport, AsyncTransport
from rpcmsg.notify._secrets import mask_secrets
from rpcmsg.notify.notifier import Notifier as _SyncNotifier
from rpcmsg.notify.notifier import not_sent
from rpcmsg.serializer import Serializer

__all__ = ["Notifier"]

_LOG = logging.getLogger("rpcmsg.notify.notifier")


class Notifier:
    """Sends notifications from an event loop; arguments as the sync ``Notifier``'s."""

    def __init__(
        self,
        transport: AsyncTransport,
        publisher_id: str | None = None,
        driver: str | None = None,
        serializer: Serializer | None = None,
        retry: int | None = None,
        topics: Sequence[str] | None = None,
        *,
        raise_on_failure: bool = False,
    ) -> None:
        if isinstance(transport, AsyncRPCTransport):
            _LOG.warning(
                "Using RPC transport for notifications. Please use "
                "get_notification_transport to obtain a "
                "notification transport instance."
            )
        core = _SyncNotifier.__new__(_SyncNotifier)
        core._setup(transport, publisher_id, driver, serializer, retry, topics, raise_on_failure)
        self._core = core

    @property
    def transport(self) -> AsyncTransport:
        transport: AsyncTransport = self._core.transport
        return transport

    @property
    def publisher_id(self) -> str | None:
        return self._core.publisher_id

    @property
    def retry(self) -> int | None:
        return self._core.retry

    def prepare(self, publisher_id: Any = ..., retry: Any = ...) -> Notifier:
        """A notifier sharing this one's drivers, with another publisher id and/or retry."""
        clone = object.__new__(type(self))
        core = self._core
        kwargs = {}
        if publisher_id is not ...:
            kwargs["publisher_id"] = publisher_id
        if retry is not ...:
            kwargs["retry"] = retry
        clone._core = core.prepare(**kwargs)
        return clone

    def is_enabled(self) -> bool:
        """As the sync notifier's."""
        return self._core.is_enabled()

    async def _notify(self, ctxt: Any, event_type: str, payload: Any, priority: str) -> None:
        core = self._core
        context, message = core._prepare(ctxt, event_type, payload, priority, None)
        failed: list[str] = []
        for ext in core._driver_mgr.extensions:
            obj: Any = ext.obj
            try:
                anotify = getattr(obj, "anotify", None)
                if anotify is not None:
                    await anotify(context, message, priority, core.retry)
                else:
                    obj.notify(context, message, priority, core.retry)
            except Exception as exc:
                failed.append(f"{ext.name} ({exc})")
                _LOG.error(
                    "Problem '%(e)s' attempting to send to notification system. "
                    "Payload=%(payload)s",
                    {"e": exc, "payload": mask_secrets(message["payload"])},
                    exc_info=exc,
                )
        if failed and core.raise_on_failure:
            raise not_sent(event_type, priority, failed)

    async def audit(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at audit priority."""
        await self._notify(ctxt, event_type, payload, "AUDIT")

    async def debug(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at debug priority."""
        await self._notify(ctxt, event_type, payload, "DEBUG")

    async def info(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at info priority."""
        await self._notify(ctxt, event_type, payload, "INFO")

    async def warn(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at warn priority."""
        await self._notify(ctxt, event_type, payload, "WARN")

    warning = warn

    async def error(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at error priority."""
        await self._notify(ctxt, event_type, payload, "ERROR")

    async def critical(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at critical priority."""
        await self._notify(ctxt, event_type, payload, "CRITICAL")

    async def sample(self, ctxt: Any, event_type: str, payload: Any) -> None:
        """Send a notification at sample priority."""
        await self._notify(ctxt, event_type, payload, "SAMPLE")
