"""Typed driver settings: an option group read once, with URL query overrides applied."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from oslo_config import cfg

from rpcmsg.exceptions import InvalidTransportURL

__all__ = ["load_settings"]

T = TypeVar("T")


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
    group are ignored (they may be meant for another layer).
    """
    conf.register_opts(list(opts), group=group)
    by_name = {opt.dest: opt for opt in opts}
    section = conf[group]
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in by_name:
            continue
        values[field.name] = section[field.name]
        if field.name in query:
            raw = query[field.name]
            opt = by_name[field.name]
            try:
                values[field.name] = (
                    opt.type(raw)
                    if not isinstance(opt, cfg.ListOpt)
                    else [v for v in raw.split(",") if v]
                )
            except (ValueError, TypeError) as exc:
                raise InvalidTransportURL(
                    None, f"Invalid value {raw!r} for option {field.name!r} in the URL query"
                ) from exc
    return cls(**values)
