"""Body compression as kombu does it (``kombu_compression``): the codec's MIME type travels in
the ``compression`` header, so oslo.messaging peers read our compressed bodies and we read
theirs."""

from __future__ import annotations

from typing import Any

from kombu import compression

__all__ = ["HEADER", "check", "compress", "decompress"]

HEADER = "compression"


def check(method: str) -> None:
    """Raise ``ValueError`` unless kombu knows the compression ``method``."""
    try:
        compression.get_encoder(method)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise ValueError(f"Unknown kombu_compression {method!r}") from exc


def compress(body: bytes, method: str) -> tuple[bytes, str]:
    """``(compressed body, MIME type for the header)``."""
    result: Any = compression.compress(body, method)  # type: ignore[no-untyped-call]
    return bytes(result[0]), str(result[1])


def decompress(body: bytes, mime: str) -> bytes:
    return bytes(compression.decompress(body, mime))  # type: ignore[no-untyped-call]
