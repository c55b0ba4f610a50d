"""The message format, shared by every driver and compatible with oslo.messaging.

A body on the wire is JSON::

    {"oslo.version": "2.0", "oslo.message": "<the message, itself as a JSON string>"}

An RPC request message holds ``method``, ``args`` (a mapping), optional ``namespace`` and
``version``, the request context flattened into ``_context_<key>`` entries, ``_unique_id``,
and for calls ``_msg_id``, ``_reply_q`` and, when a call monitor is used, ``_timeout``.
A reply holds ``result``, ``failure`` (``None`` or a JSON string describing an exception),
``ending`` (``True`` on the final reply, ``False`` on keep-alives), ``_msg_id`` and
``_unique_id``. Bodies without the envelope are accepted on input, as oslo.messaging does.
"""

from __future__ import annotations

import json
from os import urandom as _urandom
from typing import Any

__all__ = [
    "CONTEXT_PREFIX",
    "DEFAULT_MAX_SIZE",
    "MalformedMessage",
    "check_size",
    "decode",
    "encode",
    "max_size",
    "new_id",
    "pack_context",
    "unpack_context",
]

ENVELOPE_VERSION = "2.0"
VERSION_KEY = "oslo.version"
MESSAGE_KEY = "oslo.message"
CONTEXT_PREFIX = "_context_"

#: The default of the ``max_message_size`` option.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024

_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_loads = json.loads


class MalformedMessage(ValueError):
    """A body that is not a valid message; the reason is the exception's text."""


def new_id() -> str:
    """A fresh random message id: 32 hex digits, like ``uuid4().hex`` (receivers treat ids
    as opaque strings), without building a UUID object on the hot path."""
    return _urandom(16).hex()


def encode(message: dict[str, Any]) -> bytes:
    """Wrap ``message`` in the envelope and encode it.

    Raises ``TypeError`` or ``ValueError`` when the message holds something JSON cannot carry:
    the same failure on every driver, the fake included.
    """
    inner = _dumps(message)
    return _dumps({VERSION_KEY: ENVELOPE_VERSION, MESSAGE_KEY: inner}).encode("utf-8")


def max_size(conf: Any) -> int:
    """The ``max_message_size`` of ``conf`` (its default where it is not registered)."""
    return int(getattr(conf, "max_message_size", DEFAULT_MAX_SIZE))


def check_size(body: bytes, limit: int, what: str) -> bytes:
    """``body``, or ``MessageDeliveryFailure`` when it is longer than ``limit`` bytes."""
    if len(body) > limit:
        from rpcmsg.exceptions import MessageDeliveryFailure

        raise MessageDeliveryFailure(
            f"{what} of {len(body)} bytes exceeds max_message_size ({limit} bytes): not sent"
        )
    return body


def decode(body: bytes | str, limit: int | None = None) -> dict[str, Any]:
    """Decode a body into a message dict, with or without the envelope.

    Raises ``MalformedMessage`` for anything that is not a JSON object, or that is longer
    than ``limit`` bytes (before parsing it).
    """
    if limit is not None and len(body) > limit:
        raise MalformedMessage(f"body of {len(body)} bytes exceeds max_message_size ({limit})")
    try:
        outer = _loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        # RecursionError: a document nested deeper than the decoder recurses.
        raise MalformedMessage(f"body is not JSON: {exc}") from exc
    if not isinstance(outer, dict):
        raise MalformedMessage(f"body is JSON {type(outer).__name__}, not an object")
    if MESSAGE_KEY not in outer:
        return outer
    version = str(outer.get(VERSION_KEY, ""))
    if version.split(".", 1)[0] != ENVELOPE_VERSION.split(".", 1)[0]:
        raise MalformedMessage(f"unsupported envelope version {version!r}")
    try:
        inner = _loads(outer[MESSAGE_KEY])
    except (ValueError, TypeError, RecursionError) as exc:
        raise MalformedMessage(f"enveloped message is not JSON: {exc}") from exc
    if not isinstance(inner, dict):
        raise MalformedMessage("enveloped message is not a JSON object")
    return inner


def pack_context(message: dict[str, Any], context: Any) -> None:
    """Flatten a context (a dict, or an object with ``to_dict()``) into ``message``."""
    if context is None:
        return
    items = context.items() if isinstance(context, dict) else context.to_dict().items()
    for key, value in items:
        message[CONTEXT_PREFIX + key] = value


def unpack_context(message: dict[str, Any]) -> dict[str, Any]:
    """Remove the ``_context_`` entries from ``message`` and return them as a dict."""
    n = len(CONTEXT_PREFIX)
    keys = [k for k in message if k.startswith(CONTEXT_PREFIX)]
    return {k[n:]: message.pop(k) for k in keys}
