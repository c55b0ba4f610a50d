"""Typed driver settings: an option group read once, with URL query overrides applied."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from oslo_config import cfg

from rpcmsg.exceptions import ConfigurationError, InvalidTransportURL

__all__ = ["LARGEST", "load_settings"]

T = TypeVar("T")

#: The largest number a numeric option may hold (a 32-bit int: as seconds, 68 years).
#: Larger values, infinities and NaN would reach clocks, socket and lock timeouts that
#: cannot hold them (``OverflowError`` deep inside a library), so they are refused.
LARGEST = 2**31 - 1


def _sane(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return math.isfinite(value) and abs(value) <= LARGEST


def load_settings(
    conf: cfg.ConfigOpts,
    group: str,
    opts: Sequence[cfg.Opt],
    query: Mapping[str, str],
    cls: type[T],
) -> T:
    """Build ``cls`` (a dataclass) from ``conf.<group>``, overridden by URL ``query`` values.

    Each dataclass field is filled from the option of the same name. A query value is
    converted with the option's own type, so ``?heartbeat_rate=3`` becomes an int; a value
    that does not convert raises ``InvalidTransportURL``. Query keys naming no option of the
    group are ignored (they may be meant for another layer). A number that is not finite or
    beyond :data:`LARGEST` raises ``InvalidTransportURL`` from the query and
    ``ConfigurationError`` from the configuration.
    """
    conf.register_opts(list(opts), group=group)
    by_name = {opt.dest: opt for opt in opts}
    section = conf[group]
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in by_name:
            continue
        values[field.name] = section[field.name]
        if not _sane(values[field.name]):
            raise ConfigurationError(
                f"[{group}] {field.name} = {values[field.name]!r}: not a number rpcmsg can use "
                f"(finite, at most {LARGEST})"
            )
        if field.name in query:
            raw = query[field.name]
            opt = by_name[field.name]
            try:
                values[field.name] = (
                    opt.type(raw)
                    if not isinstance(opt, cfg.ListOpt)
                    else [v for v in raw.split(",") if v]
                )
            except (ValueError, TypeError, OverflowError) as exc:
                raise InvalidTransportURL(
                    None, f"Invalid value {raw!r} for option {field.name!r} in the URL query"
                ) from exc
            if not _sane(values[field.name]):
                raise InvalidTransportURL(
                    None,
                    f"Invalid value {raw!r} for option {field.name!r} in the URL query: "
                    f"not finite or above {LARGEST}",
                )
    return cls(**values)
