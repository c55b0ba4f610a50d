"""Where the fault tests write down what they measured, for ``tests/faults/report.py``.

Each test adds one entry, keyed by suite, driver and case, to a JSON file
(``RPCMSG_FAULT_FIGURES``, default ``.fault-figures.json`` at the repository root). An entry
written again replaces the older one, so a re-run of one test updates its row.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["FIGURES_PATH", "load", "record"]

FIGURES_PATH = Path(
    os.environ.get(
        "RPCMSG_FAULT_FIGURES", Path(__file__).resolve().parents[2] / ".fault-figures.json"
    )
)
_LOCK = threading.Lock()


def load(path: Path = FIGURES_PATH) -> dict[str, dict[str, Any]]:
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


def record(suite: str, driver: str, case: str, figures: Any) -> dict[str, Any]:
    """Write ``figures`` (a dict or a dataclass) for ``suite/driver/case``; returns them, and
    prints them, so a failing test's output shows them too."""
    values = dataclasses.asdict(figures) if dataclasses.is_dataclass(figures) else dict(figures)
    entry = {"suite": suite, "driver": driver, "case": case, "at": time.time(), **values}
    with _LOCK:
        data = load()
        data[f"{suite}/{driver}/{case}"] = entry
        tmp = FIGURES_PATH.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(FIGURES_PATH)
    print(f"figures {suite}/{driver}/{case}: {json.dumps(values, sort_keys=True)}")
    return entry
