"""The ``messaging`` and ``messagingv2`` notification drivers: publish on the transport.

``messagingv2`` sends format 2.0 (the message inside the ``oslo.version``/``oslo.message``
envelope), ``messaging`` format 1.0 (the bare message, for consumers that predate the
envelope); see :mod:`rpcmsg.notify._format`. Each notification goes to
``<topic>.<priority>`` (priority lower case) in the transport's ``control_exchange``, once per
configured topic, through ``transport._send_notification(target, ctxt, message, version=,
retry=)`` as in oslo.messaging.

Guarantees: ``notify`` returns once the transport's driver took the message for every topic
(confirmed where the broker confirms). It is at most once on the sending side: a send is not
repeated after the broker took it. A topic that fails does not stop the others: the failure
is logged on this module's ``LOG`` with the message (secret-looking values masked) and, as in
oslo.messaging, not raised, unless ``raise_on_failure`` is set (the notifier sets it when
built with ``raise_on_failure=True``): then ``MessageDeliveryFailure`` names the failures
once every topic was tried.
"""

from __future__ import annotations

import logging
from typing import Any

from oslo_config import cfg

from rpcmsg.exceptions import MessageDeliveryFailure
from rpcmsg.notify._secrets import mask_secrets
from rpcmsg.notify.notifier import Driver
from rpcmsg.target import Target
from rpcmsg.transport import Transport

__all__ = ["MessagingDriver", "MessagingV2Driver"]

LOG = logging.getLogger(__name__)


class MessagingDriver(Driver):
    """Publishes notifications in format 1.0 (no envelope)."""

    #: Raise ``MessageDeliveryFailure`` after logging failed topics (see the module docstring).
    raise_on_failure = False

    def __init__(
        self, conf: cfg.ConfigOpts, topics: Any, transport: Transport, version: float = 1.0
    ) -> None:
        super().__init__(conf, topics, transport)
        self.version = version

    def notify(self, ctxt: Any, message: dict[str, Any], priority: str, retry: int | None) -> None:
        failures = []
        for topic, target in self._targets(priority):
            try:
                self.transport._send_notification(
                    target, ctxt, message, version=self.version, retry=retry
                )
            except Exception as exc:
                failures.append(self._failed(topic, target, message, exc))
        self._raise_failures(failures)

    async def anotify(
        self, ctxt: Any, message: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        """:meth:`notify` on an async transport (:mod:`rpcmsg.asyncio`), awaited."""
        failures = []
        transport: Any = self.transport
        for topic, target in self._targets(priority):
            try:
                await transport._asend_notification(
                    target, ctxt, message, version=self.version, retry=retry
                )
            except Exception as exc:
                failures.append(self._failed(topic, target, message, exc))
        self._raise_failures(failures)

    def _targets(self, priority: str) -> list[tuple[str, Target]]:
        priority = priority.lower()
        return [(topic, Target(topic=f"{topic}.{priority}")) for topic in self.topics]

    @staticmethod
    def _failed(topic: str, target: Target, message: dict[str, Any], exc: Exception) -> str:
        # Called in the except block: LOG.exception logs its traceback (tests patch it).
        LOG.exception(
            "Could not send notification to %(topic)s. Payload=%(message)s",
            {"topic": topic, "message": mask_secrets(message)},
        )
        return f"{target.topic}: {exc}"

    def _raise_failures(self, failures: list[str]) -> None:
        if failures and self.raise_on_failure:
            raise MessageDeliveryFailure("; ".join(failures))


class MessagingV2Driver(MessagingDriver):
    """Publishes notifications in format 2.0 (with the envelope)."""

    def __init__(self, conf: cfg.ConfigOpts, **kwargs: Any) -> None:
        super().__init__(conf, version=2.0, **kwargs)
