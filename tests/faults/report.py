"""Print what the fault suite measured, per driver: ``python -m tests.faults.report [FILE]``.

Reads the figures the tests wrote (:mod:`tests.faults.figures`; ``RPCMSG_FAULT_FIGURES`` or
``.fault-figures.json``) and prints one table per driver, a row per test case: calls and how
they ended, deadline overruns and the largest overrun, casts and notifications sent, lost and
duplicated, the recovery time, and the largest RSS growth where the test measured memory.
Then a total per driver. Exits 1 when anything was lost or a call overran its deadline, so a
CI step can show the figures and still fail on them.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.faults.figures import FIGURES_PATH, load

__all__ = ["main", "rows"]

COLUMNS = [
    ("case", 28),
    ("calls", 6),
    ("timeouts", 8),
    ("overruns", 8),
    ("max over s", 10),
    ("casts", 6),
    ("lost", 5),
    ("dup", 5),
    ("notes", 6),
    ("lost", 5),
    ("dup", 5),
    ("recovery s", 10),
    ("RSS +MB", 8),
    ("2nd half", 8),
]


def _calls(entry: dict[str, Any]) -> tuple[Any, Any]:
    outcomes = entry.get("outcomes")
    if isinstance(outcomes, dict):
        return sum(outcomes.values()), outcomes.get("timeout", 0)
    return "-", "-"


def rows(data: dict[str, dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """Per driver, one row of ``COLUMNS`` per recorded case."""
    table: dict[str, list[list[Any]]] = defaultdict(list)
    for key in sorted(data):
        entry = data[key]
        calls, timeouts = _calls(entry)
        table[entry["driver"]].append(
            [
                f"{entry['suite']}/{entry['case']}",
                calls,
                timeouts,
                entry.get("overruns", "-"),
                entry.get("max_overrun", "-"),
                entry.get("casts_sent", "-"),
                entry.get("casts_lost", "-"),
                entry.get("casts_duplicated", "-"),
                entry.get("notes_sent", "-"),
                entry.get("notes_lost", "-"),
                entry.get("notes_duplicated", "-"),
                entry.get("recovery_s", entry.get("redelivered_within_s", "-")),
                entry.get("max_rss_growth_mb", "-"),
                entry.get("max_rss_late_growth_mb", "-"),
            ]
        )
    return dict(table)


def _line(values: list[Any]) -> str:
    return "  ".join(
        str(v).rjust(w) if i else str(v).ljust(w)
        for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
    )


def _sum(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) if numbers else "-"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else FIGURES_PATH
    data = load(path)
    if not data:
        print(f"no fault figures in {path} (run: python -m pytest -m faults)")
        return 0
    bad = False
    for driver, table in sorted(rows(data).items()):
        print(f"\n== {driver} ==")
        print(_line([name for name, _ in COLUMNS]))
        for row in table:
            print(_line(row))
        columns = list(zip(*table, strict=True))
        overrun = [v for v in columns[4] if isinstance(v, (int, float))]
        total = [
            "total",
            _sum(list(columns[1])),
            _sum(list(columns[2])),
            _sum(list(columns[3])),
            max(overrun) if overrun else "-",
            *(_sum(list(columns[i])) for i in range(5, 11)),
            "-",
            max((v for v in columns[12] if isinstance(v, (int, float))), default="-"),
            max((v for v in columns[13] if isinstance(v, (int, float))), default="-"),
        ]
        print(_line(total))
        lost = [total[6], total[9]]
        bad = bad or any(isinstance(v, int) and v > 0 for v in [*lost, total[3]])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
