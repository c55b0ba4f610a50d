"""NotificationFilter: which notifications an endpoint wants, by regular expressions.

Set an instance as an endpoint's ``filter_rule``. Each given field must match with
``re.match`` (anchored at the start, not the end): ``publisher_id`` and ``event_type`` take
one pattern; ``context``, ``metadata`` and ``payload`` take a mapping of key to pattern, and
every key must be present with a string value that matches. A non-string value never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["NotificationFilter"]


def _compile_map(patterns: Mapping[str, str] | None) -> dict[str, re.Pattern[str]]:
    return {key: re.compile(pattern) for key, pattern in (patterns or {}).items()}


def _matches(value: Any, pattern: re.Pattern[str] | None) -> bool:
    if pattern is None:
        return True
    return isinstance(value, str) and pattern.match(value) is not None


def _matches_map(data: Any, patterns: dict[str, re.Pattern[str]]) -> bool:
    if not patterns:
        return True
    if not isinstance(data, Mapping):
        return False
    return all(key in data and _matches(data[key], p) for key, p in patterns.items())


class NotificationFilter:
    """Accepts the notifications whose fields match every given pattern.

    Raises ``re.error`` at construction for a pattern that does not compile.
    """

    def __init__(
        self,
        context: Mapping[str, str] | None = None,
        publisher_id: str | None = None,
        event_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        payload: Mapping[str, str] | None = None,
    ) -> None:
        self._publisher_id = re.compile(publisher_id) if publisher_id is not None else None
        self._event_type = re.compile(event_type) if event_type is not None else None
        self._context = _compile_map(context)
        self._metadata = _compile_map(metadata)
        self._payload = _compile_map(payload)

    def match(
        self, context: Any, publisher_id: Any, event_type: Any, metadata: Any, payload: Any
    ) -> bool:
        """True when the notification passes the filter."""
        if hasattr(context, "to_dict") and not isinstance(context, Mapping):
            context = context.to_dict()
        return (
            _matches(publisher_id, self._publisher_id)
            and _matches(event_type, self._event_type)
            and _matches_map(context, self._context)
            and _matches_map(metadata, self._metadata)
            and _matches_map(payload, self._payload)
        )
