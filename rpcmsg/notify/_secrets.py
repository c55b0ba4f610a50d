"""Masking of secret-looking values before a notification is written to a log."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "DictContext", "mask_secrets"]

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


class DictContext:
    """A context given as a plain dict by rpcmsg's own tools (the ``rpcmsg notify``
    command), made sendable: notifiers never send a plain dict (it may hold credentials), but
    they send an object's ``redacted_copy()``, which leaves out the secret-looking keys."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = dict(values)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def redacted_copy(self) -> DictContext:
        return DictContext({k: v for k, v in self.values.items() if not _SECRET_KEY.search(k)})
