"""Print one library's ``[oslo_messaging_rabbit]`` options as JSON, to compare the two.

Usage: ``rabbit_opts.py oslo_messaging`` (under oslo.messaging's python) or
``rabbit_opts.py rpcmsg``. Prints ``{name: description}``, where a description holds what a
deployment can observe of an option: its type, default, bounds, choices, deprecated names
and whether it is deprecated for removal. Help texts are not compared (rpcmsg words its own).

Imports only the library named, so that each side runs in its own virtualenv.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

GROUP = "oslo_messaging_rabbit"


def describe(opt: Any) -> dict[str, Any]:
    kind = opt.type
    return {
        "opt": type(opt).__name__,
        "type": type(kind).__name__,
        "default": opt.default,
        "sample_default": opt.sample_default,
        "min": getattr(kind, "min", None),
        "max": getattr(kind, "max", None),
        "choices": sorted(map(str, kind.choices)) if getattr(kind, "choices", None) else None,
        "deprecated": sorted([d.group or "", d.name or ""] for d in opt.deprecated_opts),
        "deprecated_for_removal": bool(opt.deprecated_for_removal),
        "secret": bool(opt.secret),
    }


def main(library: str) -> None:
    list_opts = importlib.import_module(f"{library}.opts").list_opts
    found: dict[str, Any] = {}
    for group, opts in list_opts():
        if group == GROUP:
            found.update({opt.name: describe(opt) for opt in opts})
    json.dump(found, sys.stdout, indent=1, sort_keys=True, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
