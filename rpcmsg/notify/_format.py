"""The notification message, as oslo.messaging puts it on the wire and reads it back.

A notification is a JSON object::

    {"message_id": "<uuid4, dashed>", "publisher_id": "compute.host1",
     "event_type": "compute.instance.create.end", "priority": "INFO",
     "payload": {...}, "timestamp": "2026-11-23 19:09:07.123456",
     "_unique_id": "<32 hex digits>", "_context_<key>": <value>, ...}

Format 2.0 (the ``messagingv2`` driver) wraps it in the ``oslo.version``/``oslo.message``
envelope of :mod:`rpcmsg._wire`; format 1.0 (``messaging``) sends the bare object. Readers
accept both. A body is malformed when it is not a JSON object, or when ``event_type`` or
``priority`` is missing or not a string; :func:`parse` raises ``MalformedMessage`` for it.

The timestamp comes from ``oslo_utils.timeutils.utcnow()`` when the program has imported
``oslo_utils.timeutils`` (so its time overrides apply to notifications, as in oslo.messaging),
else from the system clock; rpcmsg does not depend on oslo.utils.
"""

from __future__ import annotations

import datetime
import json
import sys
import uuid
from typing import Any

from rpcmsg import _wire
from rpcmsg._wire import MalformedMessage

__all__ = ["PRIORITIES", "MalformedMessage", "build", "encode", "encode_checked", "parse"]

#: The priorities a notification may carry, lower case: also the endpoint method names.
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")

_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def utcnow_text() -> str:
    """The timestamp as oslo.messaging writes it: ``str()`` of a naive UTC datetime."""
    timeutils = sys.modules.get("oslo_utils.timeutils")
    if timeutils is not None:
        return str(timeutils.utcnow())
    return str(datetime.datetime.now(datetime.UTC).replace(tzinfo=None))


def build(publisher_id: str | None, event_type: str, priority: str, payload: Any) -> dict[str, Any]:
    """A new notification message (without context): fresh ``message_id`` and timestamp."""
    return {
        "message_id": str(uuid.uuid4()),
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority,
        "payload": payload,
        "timestamp": utcnow_text(),
    }


def encode(ctxt: dict[str, Any], message: dict[str, Any], version: float) -> bytes:
    """The wire body of ``message`` with ``ctxt`` flattened in, in format 1.0 or 2.0.

    Raises ``TypeError`` or ``ValueError`` when the message holds something JSON cannot carry.
    """
    msg = dict(message)
    msg["_unique_id"] = _wire.new_id()
    _wire.pack_context(msg, ctxt)
    if version >= 2.0:
        return _wire.encode(msg)
    return _dumps(msg).encode("utf-8")


def encode_checked(ctxt: Any, message: dict[str, Any], version: float, limit: int) -> bytes:
    """:func:`encode`, then ``MessageDeliveryFailure`` for a body over ``limit`` bytes."""
    return _wire.check_size(encode(ctxt, message, version), limit, "a notification")


def parse(body: bytes | str, limit: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a notification body (either format): its context and its message (without the
    ``_context_`` entries), as oslo.messaging's incoming messages carry them. Raises
    ``MalformedMessage``, also for a body longer than ``limit`` bytes."""
    message = _wire.decode(body, limit)
    if not isinstance(message.get("event_type"), str):
        raise MalformedMessage("notification without a string event_type")
    if not isinstance(message.get("priority"), str):
        raise MalformedMessage("notification without a string priority")
    ctxt = _wire.unpack_context(message)
    message.pop("_unique_id", None)
    return ctxt, message
