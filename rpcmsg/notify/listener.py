"""Notification listeners: consume ``<topic>.<priority>`` for endpoints' priorities.

A listener subscribes, for each target, to ``<topic>.<priority>`` of every priority some
endpoint handles (exchange: the target's, else ``control_exchange``), and dispatches with
:mod:`rpcmsg.notify.dispatcher`.

Pools: listeners without a ``pool`` share one copy of each notification (each message to one
of them); listeners with the same ``pool`` share one more copy. Notifications published
before any pool-less listener existed wait for one; a pool only gets what is published once
one of its listeners has subscribed.

Delivery: a message is acknowledged only after its endpoints returned, so on drivers with the
``at_least_once`` capability a listener that dies mid-handling loses nothing: the message is
delivered to another listener. A ``REQUEUE`` result (or an endpoint raising) gives the message
back to its queue when ``allow_requeue=True``; otherwise it is acknowledged and logged. There
is no redelivery limit: a handler that always fails gets its message again and again, as in
oslo.messaging. A malformed message (not JSON, no ``event_type`` or ``priority``) is logged
and dropped.

Batch listeners hand endpoints lists: a batch is delivered when ``batch_size`` messages are
in hand, or ``batch_timeout`` seconds after its first message arrived, whichever is first
(without ``batch_timeout``, only full batches, and what is in hand at ``stop()``). A batch
listener runs one worker.
"""

from __future__ import annotations

import abc
import logging
import time
from collections.abc import Sequence
from typing import Any

from rpcmsg import _observe
from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.exceptions import InvalidTarget
from rpcmsg.notify import _format
from rpcmsg.notify.dispatcher import (
    BatchNotificationDispatcher,
    NotificationDispatcher,
    NotificationResult,
)
from rpcmsg.serializer import Serializer
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import NotificationTransport, Transport

__all__ = [
    "BatchNotificationServer",
    "IncomingNotification",
    "NotificationServer",
    "NotificationServerBase",
    "get_batch_notification_listener",
    "get_notification_listener",
]

LOG = logging.getLogger(__name__)


class IncomingNotification:
    """A notification as the dispatchers get it, shaped like oslo.messaging's incoming
    messages: ``ctxt`` (the context dict), ``message`` (the notification dict), and
    ``acknowledge()`` / ``requeue()``, each settling the broker message at most once."""

    __slots__ = ("_raw", "ctxt", "message")

    def __init__(self, raw: IncomingMessage, ctxt: dict[str, Any], message: dict[str, Any]):
        self._raw = raw
        self.ctxt = ctxt
        self.message = message

    def acknowledge(self) -> None:
        self._raw.ack()

    def requeue(self) -> None:
        self._raw.requeue()


class NotificationServerBase(MessageHandlingServer):
    """Shared by single and batch notification listeners: consumes the targets' topics for
    the dispatcher's priorities and hands ``_process_incoming`` lists of
    :class:`IncomingNotification` (one at a time, or up to ``batch_size`` within
    ``batch_timeout`` seconds)."""

    dispatcher: NotificationDispatcher

    def __init__(
        self,
        transport: Transport,
        targets: Sequence[Target],
        dispatcher: NotificationDispatcher,
        executor: str | None = None,
        allow_requeue: bool = True,
        pool: str | None = None,
        batch_size: int | None = 1,
        batch_timeout: float | None = None,
    ) -> None:
        if not isinstance(transport, NotificationTransport):
            LOG.warning(
                "Using RPC transport for notifications. Please use "
                "get_notification_transport to obtain a "
                "notification transport instance."
            )
        if isinstance(targets, Target) or not all(isinstance(t, Target) for t in targets):
            raise TypeError("targets must be a list of Target objects")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if batch_timeout is not None and batch_timeout < 0:
            raise ValueError(f"batch_timeout must not be negative, not {batch_timeout}")
        super().__init__(transport, dispatcher, executor)
        self.targets = targets
        self._allow_requeue = allow_requeue
        self._pool = pool
        self._batch_size = batch_size or 1
        self._batch_timeout = batch_timeout

    def _create_listener(self) -> Listener:
        addresses = []
        for target in self.targets:
            if not target.topic:
                raise InvalidTarget("A target must have topic specified", target)
            exchange = self.transport._require_exchange(target.exchange)
            for priority in self.dispatcher.supported_priorities:
                addresses.append(Target(exchange=exchange, topic=f"{target.topic}.{priority}"))
        if not addresses:
            LOG.warning("No endpoint of this listener handles any priority; it gets nothing")
        return self.transport.driver.listen_for_notifications(
            addresses, self._pool, capacity=self._max_workers * self._batch_size
        )

    def _parse(self, raw: IncomingMessage) -> IncomingNotification | None:
        """The notification in ``raw``, or None after dropping a malformed one."""
        try:
            ctxt, message = _format.parse(raw.body, self.transport.max_message_size)
        except _format.MalformedMessage as exc:
            LOG.error("Dropping a malformed notification: %s (body %.200r)", exc, raw.body)
            try:
                raw.reject()
            except Exception:
                LOG.exception("Fail to reject message.")
            return None
        return IncomingNotification(raw, ctxt, message)

    def _settle(self, message: IncomingNotification, requeue: bool) -> None:
        try:
            if requeue and self._allow_requeue:
                message.requeue()
            else:
                if requeue:
                    LOG.warning(
                        "A notification endpoint asked to requeue (or raised) but this "
                        "listener does not allow requeue; the message is acknowledged"
                    )
                message.acknowledge()
        except Exception:
            LOG.exception("Fail to ack/requeue message.")

    def _process(self, incoming: IncomingMessage) -> None:
        self._process_batch([incoming])

    def _process_batch(self, batch: list[IncomingMessage]) -> None:
        parsed = [self._parse(raw) for raw in batch]
        good = [message for message in parsed if message is not None]
        if good:
            self._process_incoming(good)
        # A requeued message may come straight back without any I/O (the fake broker, a
        # driver's prefetched messages): with the eventlet executor in a monkey-patched
        # process, this lets the other green threads (stop(), heartbeats) run between
        # deliveries instead of starving while a handler keeps requeueing.
        time.sleep(0)

    def _dispatch(self, incoming: Any) -> Any:
        """``self.dispatcher.dispatch(incoming)``, through the observability hooks if on."""
        hooks = _observe.hooks
        if hooks is None:
            return self.dispatcher.dispatch(incoming)
        return hooks.dispatch_notifications(self, incoming, self.dispatcher.dispatch)

    @abc.abstractmethod
    def _process_incoming(self, incoming: list[IncomingNotification]) -> None:
        """Dispatch ``incoming`` (one message, or a batch) and settle each message; must
        not raise."""


class NotificationServer(NotificationServerBase):
    """Delivers notifications one at a time, on a pool of workers."""

    def __init__(
        self,
        transport: Transport,
        targets: Sequence[Target],
        dispatcher: NotificationDispatcher,
        executor: str | None = None,
        allow_requeue: bool = True,
        pool: str | None = None,
    ) -> None:
        super().__init__(transport, targets, dispatcher, executor, allow_requeue, pool, 1, None)

    def _process_incoming(self, incoming: list[IncomingNotification]) -> None:
        message = incoming[0]
        try:
            result = self._dispatch(message)
        except Exception:
            LOG.exception("Exception during message handling.")
            result = NotificationResult.REQUEUE
        self._settle(message, result == NotificationResult.REQUEUE)


class BatchNotificationServer(NotificationServerBase):
    """Delivers notifications in batches (``batch_size`` default 1), on one worker."""

    dispatcher: BatchNotificationDispatcher

    @property
    def batch_size(self) -> int:
        return self._batch_size

    @property
    def batch_timeout(self) -> float | None:
        return self._batch_timeout

    def _collect(self, listener: Listener) -> list[IncomingMessage]:
        first = listener.poll(None)
        if first is None:
            return []
        batch = [first]
        timeout = self._batch_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(batch) < self._batch_size:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            incoming = listener.poll(left)
            if incoming is None:
                break  # the timeout passed, or the listener was stopped
            batch.append(incoming)
        return batch

    def _worker_loop(self, listener: Listener) -> None:
        while True:
            batch = self._collect(listener)
            if batch:
                try:
                    self._process_batch(batch)
                except Exception:  # must not kill the only worker
                    LOG.exception("Unexpected error handling a batch of notifications")
            elif self._stopped.is_set():
                return

    def _process_incoming(self, incoming: list[IncomingNotification]) -> None:
        try:
            not_processed = self._dispatch(incoming)
        except Exception:
            LOG.exception("Exception during messages handling.")
            not_processed = set(incoming)
        for message in incoming:
            self._settle(message, message in not_processed)


def get_notification_listener(
    transport: Transport,
    targets: Sequence[Target],
    endpoints: Sequence[Any],
    executor: str | None = None,
    serializer: Serializer | None = None,
    allow_requeue: bool = False,
    pool: str | None = None,
) -> NotificationServer:
    """A listener delivering the notifications of ``targets`` to ``endpoints``.

    ``executor`` is ``"threading"`` (default) or ``"eventlet"``; ``pool`` names the group of
    listeners sharing one copy of each message; see the module docstring for delivery.
    """
    dispatcher = NotificationDispatcher(endpoints, serializer)
    return NotificationServer(transport, targets, dispatcher, executor, allow_requeue, pool)


def get_batch_notification_listener(
    transport: Transport,
    targets: Sequence[Target],
    endpoints: Sequence[Any],
    executor: str | None = None,
    serializer: Serializer | None = None,
    allow_requeue: bool = False,
    pool: str | None = None,
    batch_size: int | None = None,
    batch_timeout: float | None = None,
) -> BatchNotificationServer:
    """Like :func:`get_notification_listener`, but endpoints receive lists of messages
    (``batch_size`` at most, or what arrived within ``batch_timeout`` seconds)."""
    dispatcher = BatchNotificationDispatcher(endpoints, serializer)
    return BatchNotificationServer(
        transport, targets, dispatcher, executor, allow_requeue, pool, batch_size, batch_timeout
    )
