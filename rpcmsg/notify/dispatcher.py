"""Dispatch of notifications to endpoint methods named after their priority.

An endpoint is any object; its methods ``audit``, ``debug``, ``info``, ``warn``, ``error``,
``critical`` and ``sample`` receive the notifications of that priority as
``(ctxt, publisher_id, event_type, payload, metadata)`` (``metadata`` holds ``message_id`` and
``timestamp``), or, for batch listeners, one list of dicts with those keys. An endpoint's
``filter_rule`` (a :class:`~rpcmsg.notify.filter.NotificationFilter`) screens what it gets.

A method returns ``None`` or ``NotificationResult.HANDLED`` to acknowledge, or
``NotificationResult.REQUEUE`` to ask for the message again; a method that raises counts as
``REQUEUE``. Endpoints are called in order; the first ``REQUEUE`` stops the dispatch of that
message (or, in a batch, of the messages of that priority). A notification of an unknown
priority is logged and acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rpcmsg.notify._format import PRIORITIES, Notification
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


class NotificationDispatcher:
    """Calls endpoint methods for single notifications."""

    def __init__(self, endpoints: Sequence[Any], serializer: Serializer | None = None) -> None:
        self.endpoints = list(endpoints)
        self.serializer: Serializer = serializer or NoOpSerializer()
        self._callbacks: dict[str, list[Callback]] = {}
        for endpoint in self.endpoints:
            for priority in PRIORITIES:
                method = getattr(endpoint, priority, None)
                if callable(method):
                    rule = getattr(endpoint, "filter_rule", None)
                    self._callbacks.setdefault(priority, []).append((rule, method))

    @property
    def supported_priorities(self) -> list[str]:
        """The priorities some endpoint handles, in the canonical order."""
        return [p for p in PRIORITIES if p in self._callbacks]

    def _user_message(self, note: Notification) -> dict[str, Any]:
        ctxt = self.serializer.deserialize_context(note.ctxt)
        return {
            "ctxt": ctxt,
            "publisher_id": note.publisher_id,
            "event_type": note.event_type,
            "payload": self.serializer.deserialize_entity(ctxt, note.payload),
            "metadata": dict(note.metadata),
        }

    @staticmethod
    def _accepts(rule: Any, message: dict[str, Any]) -> bool:
        if rule is None:
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

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except Exception:
            name = getattr(method, "__qualname__", method)
            LOG.exception("Notification endpoint %s raised", name)
            return NotificationResult.REQUEUE

    def dispatch(self, note: Notification) -> str:
        """Deliver one notification; returns ``HANDLED`` or ``REQUEUE``."""
        if note.priority not in PRIORITIES:
            LOG.warning("Dropping a notification of unknown priority %r", note.priority)
            return NotificationResult.HANDLED
        message = self._user_message(note)
        for rule, method in self._callbacks.get(note.priority, []):
            if not self._accepts(rule, message):
                continue
            result = self._call(
                method,
                message["ctxt"],
                message["publisher_id"],
                message["event_type"],
                message["payload"],
                message["metadata"],
            )
            if result == NotificationResult.REQUEUE:
                return NotificationResult.REQUEUE
        return NotificationResult.HANDLED


class BatchNotificationDispatcher(NotificationDispatcher):
    """Calls endpoint methods with lists of notifications, grouped by priority."""

    def dispatch_batch(self, notes: Iterable[Notification]) -> set[int]:
        """Deliver a batch; returns the positions (in ``notes``) of the messages to requeue."""
        by_priority: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, note in enumerate(notes):
            if note.priority not in PRIORITIES:
                LOG.warning("Dropping a notification of unknown priority %r", note.priority)
                continue
            by_priority.setdefault(note.priority, []).append((index, self._user_message(note)))
        requeue: set[int] = set()
        for priority, entries in by_priority.items():
            for rule, method in self._callbacks.get(priority, []):
                chosen = [m for _, m in entries if self._accepts(rule, m)]
                if not chosen:
                    continue
                if self._call(method, chosen) == NotificationResult.REQUEUE:
                    requeue.update(index for index, _ in entries)
                    break
        return requeue
