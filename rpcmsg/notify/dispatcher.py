"""Dispatch of notifications to endpoint methods named after their priority.

An endpoint is any object; its methods ``audit``, ``debug``, ``info``, ``warn``, ``error``,
``critical`` and ``sample`` receive the notifications of that priority as
``(ctxt, publisher_id, event_type, payload, metadata)`` (``metadata`` holds ``message_id`` and
``timestamp``), or, for batch listeners, one list of dicts with those keys. An endpoint's
``filter_rule`` (a :class:`~rpcmsg.notify.filter.NotificationFilter`) screens what it gets.

``dispatch(incoming)`` takes what oslo.messaging's dispatchers take: an incoming message
with ``ctxt`` (the context dict) and ``message`` (the notification dict, ``priority``
included); the batch dispatcher takes a list of them.

A method returns ``None`` or ``NotificationResult.HANDLED`` to acknowledge, or
``NotificationResult.REQUEUE`` to ask for the message again; a method that raises counts as
``REQUEUE``. Endpoints are called in order; the first ``REQUEUE`` stops the dispatch of that
message (or, in a batch, of the messages of that priority). A notification of an unknown
priority is logged and left alone (``dispatch`` returns ``None``; the listener acknowledges
it).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rpcmsg.dispatcher import DispatcherBase
from rpcmsg.notify._format import PRIORITIES
from rpcmsg.serializer import NoOpSerializer, Serializer

__all__ = [
    "PRIORITIES",
    "BatchNotificationDispatcher",
    "NotificationDispatcher",
    "NotificationResult",
]

LOG = logging.getLogger(__name__)


class NotificationResult:
    """What an endpoint method returns."""

    HANDLED = "handled"
    REQUEUE = "requeue"


Callback = tuple[Any, Callable[..., Any]]  # (filter_rule or None, bound method)
#: What ``_extract_user_message`` gives: (priority, the incoming message, the user message).
Extracted = tuple[str, Any, dict[str, Any]]


class NotificationDispatcher(DispatcherBase):
    """Calls endpoint methods for single notifications.

    ``endpoints`` is kept as given (``dispatcher.endpoints is endpoints``).
    """

    def __init__(self, endpoints: Sequence[Any], serializer: Serializer | None = None) -> None:
        self.endpoints = endpoints
        self.serializer: Serializer = serializer or NoOpSerializer()
        self._callbacks_by_priority: dict[str, list[Callback]] = {}
        for endpoint, priority in itertools.product(endpoints, PRIORITIES):
            method = getattr(endpoint, priority, None)
            if callable(method):
                rule = getattr(endpoint, "filter_rule", None)
                self._callbacks_by_priority.setdefault(priority, []).append((rule, method))

    @property
    def supported_priorities(self) -> list[str]:
        """The priorities some endpoint handles, in the canonical order."""
        return [p for p in PRIORITIES if p in self._callbacks_by_priority]

    def _extract_user_message(self, incoming: Any) -> Extracted:
        ctxt = self.serializer.deserialize_context(incoming.ctxt)
        message = incoming.message
        metadata = {"message_id": message.get("message_id"), "timestamp": message.get("timestamp")}
        user = {
            "ctxt": ctxt,
            "publisher_id": message.get("publisher_id"),
            "event_type": message.get("event_type"),
            "payload": self.serializer.deserialize_entity(ctxt, message.get("payload")),
            "metadata": metadata,
        }
        return str(message.get("priority", "")).lower(), incoming, user

    @staticmethod
    def _accepts(rule: Any, message: dict[str, Any]) -> bool:
        if not rule:
            return True
        return bool(
            rule.match(
                message["ctxt"],
                message["publisher_id"],
                message["event_type"],
                message["metadata"],
                message["payload"],
            )
        )

    def _exec_callback(self, callback: Callable[..., Any], message: dict[str, Any]) -> Any:
        try:
            return callback(
                message["ctxt"],
                message["publisher_id"],
                message["event_type"],
                message["payload"],
                message["metadata"],
            )
        except Exception:
            LOG.exception("Callback raised an exception.")
            return NotificationResult.REQUEUE

    def callbacks_for(self, priority: str, message: dict[str, Any]) -> list[Callable[..., Any]]:
        """The endpoint methods to call, in order, for a user ``message`` of ``priority``:
        those of that priority whose endpoint's filter accepts it. ``priority`` must be one
        of :data:`PRIORITIES`. Shared by the sync and async dispatch loops."""
        return [
            callback
            for rule, callback in self._callbacks_by_priority.get(priority, [])
            if self._accepts(rule, message)
        ]

    def dispatch(self, incoming: Any) -> str | None:
        """Deliver one notification; returns ``HANDLED`` or ``REQUEUE``, or ``None`` for an
        unknown priority."""
        priority, _, message = self._extract_user_message(incoming)
        if priority not in PRIORITIES:
            LOG.warning('Unknown priority "%s"', priority)
            return None
        for callback in self.callbacks_for(priority, message):
            if self._exec_callback(callback, message) == NotificationResult.REQUEUE:
                return NotificationResult.REQUEUE
        return NotificationResult.HANDLED


#: One priority's share of a batch: the incoming messages of that priority, and the calls
#: to make in order (an endpoint method and the user messages its filter accepts).
BatchGroup = tuple[list[Any], list[tuple[Callable[..., Any], list[dict[str, Any]]]]]


class BatchNotificationDispatcher(NotificationDispatcher):
    """Calls endpoint methods with lists of notifications, grouped by priority (priorities
    in alphabetical order, messages in arrival order within one)."""

    def plan(self, incoming: Iterable[Any]) -> list[BatchGroup]:
        """A batch split by priority (alphabetical; arrival order within one), with the
        calls to make for each; unknown priorities are logged and left out. Shared by the
        sync and async dispatch loops."""
        extracted = sorted(
            (self._extract_user_message(m) for m in incoming), key=lambda item: item[0]
        )
        groups: list[BatchGroup] = []
        for priority, group in itertools.groupby(extracted, key=lambda item: item[0]):
            entries = list(group)
            if priority not in PRIORITIES:
                LOG.warning('Unknown priority "%s"', priority)
                continue
            messages = [user for _, _, user in entries]
            calls = []
            for rule, callback in self._callbacks_by_priority.get(priority, []):
                chosen = [m for m in messages if self._accepts(rule, m)]
                if chosen:
                    calls.append((callback, chosen))
            groups.append(([raw for _, raw, _ in entries], calls))
        return groups

    def dispatch(self, incoming: Iterable[Any]) -> set[Any]:  # type: ignore[override]
        """Deliver a batch; returns the incoming messages to requeue: every message of a
        priority some endpoint asked to requeue (or raised for)."""
        requeues: set[Any] = set()
        for raws, calls in self.plan(incoming):
            for callback, chosen in calls:
                if self._exec_callback(callback, chosen) == NotificationResult.REQUEUE:
                    requeues.update(raws)
                    break
        return requeues

    def _exec_callback(self, callback: Callable[..., Any], messages: Any) -> Any:
        try:
            return callback(messages)
        except Exception:
            LOG.exception("Callback raised an exception.")
            return NotificationResult.REQUEUE
