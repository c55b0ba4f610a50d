"""Masking of secret-looking values before a notification is written to a log."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "mask_secrets"]

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|credential|private_key|auth_key)", re.IGNORECASE
)
MASK = "***"


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and _SECRET_KEY.search(k) else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [mask_secrets(v) for v in value]
    return value
