"""Target: where a message goes, or what a server or endpoint accepts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Target"]

_FIELDS = ("exchange", "topic", "namespace", "version", "server", "fanout")


class Target:
    """Identifies a destination of messages, or the messages a server or endpoint takes.

    * A client target needs ``topic``; ``server`` narrows a message to one server of that
      topic and ``fanout=True`` widens a cast to every server of it.
    * A server target needs ``topic`` and ``server``.
    * An endpoint's ``target`` attribute sets its ``namespace`` and ``version``: a message is
      dispatched to it when its namespace is accepted and its version is compatible (same major,
      requested minor no higher).

    ``exchange`` defaults to the ``control_exchange`` option. Calling a target returns a copy
    with the given attributes replaced. Targets compare equal by value and are hashable.
    """

    __slots__ = ("accepted_namespaces", "legacy_namespaces", *_FIELDS)

    def __init__(
        self,
        exchange: str | None = None,
        topic: str | None = None,
        namespace: str | None = None,
        version: str | None = None,
        server: str | None = None,
        fanout: bool | None = None,
        legacy_namespaces: Iterable[str | None] | None = None,
        accepted_namespaces: Iterable[str | None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.topic = topic
        self.namespace = namespace
        self.version = version
        self.server = server
        self.fanout = fanout
        self.legacy_namespaces: list[str | None] = list(legacy_namespaces or [])
        if accepted_namespaces is None:
            accepted_namespaces = [namespace, *self.legacy_namespaces]
        self.accepted_namespaces: list[str | None] = list(accepted_namespaces)

    def __call__(self, **kwargs: Any) -> Target:
        """Return a copy with the given attributes replaced."""
        values: dict[str, Any] = {f: getattr(self, f) for f in _FIELDS}
        values["legacy_namespaces"] = self.legacy_namespaces
        values.update(kwargs)
        return Target(**values)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Target):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        attrs = ", ".join(
            f"{name}={value}" for name in _FIELDS if (value := getattr(self, name)) is not None
        )
        return f"<Target {attrs}>"
