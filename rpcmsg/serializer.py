"""Serializers turn application objects into JSON-ready primitives and back.

The core calls ``serialize_context`` and ``serialize_entity`` on every outgoing message (the
client for arguments, the server for results) and the ``deserialize_*`` pair on the way in.
"""

from __future__ import annotations

import abc
import datetime
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["JsonPayloadSerializer", "NoOpSerializer", "Serializer", "to_primitive"]


class Serializer(abc.ABC):
    """Base class for serializers of message entities and request contexts."""

    @abc.abstractmethod
    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        """Return ``entity`` as JSON-ready primitives."""

    @abc.abstractmethod
    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        """Rebuild an entity from what ``serialize_entity`` produced."""

    @abc.abstractmethod
    def serialize_context(self, ctxt: Any) -> Any:
        """Return the request context as a dict of JSON-ready values."""

    @abc.abstractmethod
    def deserialize_context(self, ctxt: Any) -> Any:
        """Rebuild a request context from its dict."""


class NoOpSerializer(Serializer):
    """Passes everything through unchanged (the default)."""

    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return entity

    def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
        return entity

    def serialize_context(self, ctxt: Any) -> Any:
        return ctxt

    def deserialize_context(self, ctxt: Any) -> Any:
        return ctxt


class JsonPayloadSerializer(NoOpSerializer):
    """Reduces entities to JSON primitives: datetimes to ISO text, sets and tuples to lists,
    objects to their ``__dict__``."""

    @staticmethod
    def serialize_entity(context: Any, entity: Any) -> Any:  # static, as oslo.messaging's
        return to_primitive(entity, convert_instances=True)


_SIMPLE = (str, int, float, bool, type(None))


def to_primitive(value: Any, convert_instances: bool = False, level: int = 0) -> Any:
    """Convert ``value`` to something ``json.dumps`` accepts, recursing up to 10 levels."""
    if isinstance(value, _SIMPLE):
        return value
    if level > 10:
        return "?"
    nxt = level + 1
    if isinstance(value, Mapping):
        return {str(k): to_primitive(v, convert_instances, nxt) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_primitive(v, convert_instances, nxt) for v in value]
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "to_dict"):
        return to_primitive(value.to_dict(), convert_instances, nxt)
    if hasattr(value, "items"):
        return {str(k): to_primitive(v, convert_instances, nxt) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [to_primitive(v, convert_instances, nxt) for v in value]
    if convert_instances and hasattr(value, "__dict__"):
        return to_primitive(vars(value), convert_instances, nxt)
    return str(value)
