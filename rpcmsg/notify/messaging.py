"""The ``messaging`` and ``messagingv2`` notification drivers: publish on the transport.

``messagingv2`` sends format 2.0 (the message inside the ``oslo.version``/``oslo.message``
envelope), ``messaging`` format 1.0 (the bare message, for consumers that predate the
envelope); see :mod:`rpcmsg.notify._format`. Each notification goes to
``<topic>.<priority>`` (priority lower case) in the transport's ``control_exchange``, once per
configured topic.

Guarantees: ``notify`` returns once the transport's driver took the message for every topic
(confirmed where the broker confirms). It is at most once on the sending side: a send is not
repeated after the broker took it. A topic that fails does not stop the others; once every
topic was tried, ``MessageDeliveryFailure`` names the failures (the notifier logs it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from oslo_config import cfg

from rpcmsg.exceptions import MessageDeliveryFailure
from rpcmsg.notify import _format
from rpcmsg.notify.notifier import Driver
from rpcmsg.target import Target
from rpcmsg.transport import Transport

__all__ = ["MessagingDriver", "MessagingV2Driver"]

LOG = logging.getLogger(__name__)


class MessagingDriver(Driver):
    """Publishes notifications in format 1.0 (no envelope)."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        topics: Sequence[str],
        transport: Transport,
        version: float = 1.0,
    ) -> None:
        super().__init__(conf, topics, transport)
        self.version = version

    def notify(
        self, ctxt: dict[str, Any], msg: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        body = _format.encode(ctxt, msg, self.version)
        exchange = self.transport._require_exchange(None)
        failures = []
        for topic in self.topics:
            target = Target(exchange=exchange, topic=f"{topic}.{priority.lower()}")
            try:
                self.transport.driver.send_notification(target, body, retry=retry)
            except Exception as exc:
                failures.append(f"{target.topic}: {exc}")
        if failures:
            raise MessageDeliveryFailure("; ".join(failures))


class MessagingV2Driver(MessagingDriver):
    """Publishes notifications in format 2.0 (with the envelope)."""

    def __init__(self, conf: cfg.ConfigOpts, topics: Sequence[str], transport: Transport) -> None:
        super().__init__(conf, topics, transport, version=2.0)
