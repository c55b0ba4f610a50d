"""Body compression as kombu does it (``kombu_compression``): the codec's MIME type travels in
the ``compression`` header, so oslo.messaging peers read our compressed bodies and we read
theirs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kombu import compression

__all__ = ["HEADER", "check", "compress", "decode", "decompress", "prepare"]

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


def prepare(
    body: bytes,
    content_type: str,
    *,
    compression_method: str | None,
    delivery_mode: int,
    expiration: float | None = None,
) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """``(body, properties, headers)`` of a message as both RabbitMQ drivers send it: the
    body compressed with ``compression_method`` (its MIME type in ``headers``), and the
    expiration in whole milliseconds (at least 1)."""
    properties: dict[str, Any] = {
        "content_type": content_type,
        "content_encoding": "utf-8",
        "delivery_mode": delivery_mode,
    }
    headers: dict[str, Any] = {}
    if compression_method:
        body, mime = compress(body, compression_method)
        headers[HEADER] = mime
    if expiration is not None:
        properties["expiration"] = str(max(1, int(expiration * 1000)))
    return body, properties, headers


def decode(body: bytes | str, headers: Mapping[str, Any] | None) -> bytes:
    """A received body as bytes, decompressed when its ``compression`` header says so."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    method = (headers or {}).get(HEADER)
    if method:
        body = decompress(body, str(method))
    return bytes(body)
