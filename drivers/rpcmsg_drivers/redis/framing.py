"""How a message is stored in a list value (streams keep fields instead).

A call request is ``<expiry ms>\\n<content type>\\n<body>``; a reply is
``<content type>\\n<body>``. Content types and expiries never hold a newline; bodies may.
Values another writer framed badly still unframe (non-UTF-8 text is replaced), for the core
to reject.
"""

from __future__ import annotations

__all__ = ["frame_call", "frame_reply", "unframe_call", "unframe_reply"]


def frame_call(body: bytes, content_type: str, expires: str) -> bytes:
    return f"{expires}\n{content_type}\n".encode() + bytes(body)


def unframe_call(value: bytes) -> tuple[bytes, str, str]:
    """``(body, content_type, expires)`` of a framed call request."""
    expires, _, rest = value.partition(b"\n")
    content_type, _, body = rest.partition(b"\n")
    return body, content_type.decode(errors="replace"), expires.decode(errors="replace")


def frame_reply(body: bytes, content_type: str) -> bytes:
    return content_type.encode() + b"\n" + bytes(body)


def unframe_reply(value: bytes) -> tuple[bytes, str]:
    """``(body, content_type)`` of a framed reply."""
    content_type, _, body = value.partition(b"\n")
    return body, content_type.decode(errors="replace")
