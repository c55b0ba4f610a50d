"""``rpcmsg drivers``: what the entry points register, and whether each one loads."""

from __future__ import annotations

import argparse
import dataclasses
import json
from importlib.metadata import entry_points
from typing import Any

from rpcmsg import _plugins
from rpcmsg.cli._common import EXIT_OK

__all__ = ["drivers", "inventory"]


def _describe(namespace: str, name: str, value: str) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "target": value}
    try:
        cls = _plugins._load(namespace, name)
    except Exception as exc:
        row["status"] = f"does not load: {type(exc).__name__}: {exc}".splitlines()[0]
        return row
    row["status"] = "ok"
    caps = getattr(cls, "capabilities", None)
    if caps is not None and dataclasses.is_dataclass(caps) and not isinstance(caps, type):
        row["capabilities"] = sorted(k for k, v in dataclasses.asdict(caps).items() if v)
    return row


def inventory() -> dict[str, list[dict[str, Any]]]:
    """Per namespace, each registered name with its target, status and capabilities."""
    result: dict[str, list[dict[str, Any]]] = {}
    for namespace in (_plugins.DRIVER_NAMESPACE, _plugins.NOTIFY_DRIVER_NAMESPACE):
        seen: dict[str, str] = {}
        for ep in entry_points(group=namespace):
            seen.setdefault(ep.name, ep.value)
        result[namespace] = [_describe(namespace, n, v) for n, v in sorted(seen.items())]
    return result


def drivers(args: argparse.Namespace) -> int:
    data = inventory()
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    titles = {
        _plugins.DRIVER_NAMESPACE: "Transport drivers (URL scheme)",
        _plugins.NOTIFY_DRIVER_NAMESPACE: "Notification drivers (option driver of "
        "[oslo_messaging_notifications])",
    }
    for namespace, rows in data.items():
        print(f"{titles[namespace]}:")
        width = max((len(r["name"]) for r in rows), default=0)
        for row in rows:
            extra = ""
            if row.get("capabilities"):
                extra = "  [" + ", ".join(row["capabilities"]) + "]"
            status = "" if row["status"] == "ok" else f"  ({row['status']})"
            print(f"  {row['name']:<{width}}  {row['target']}{extra}{status}")
        print()
    return EXIT_OK
