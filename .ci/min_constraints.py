"""Print pip constraints pinning every runtime dependency to its declared minimum.

Reads pyproject.toml: the ``dependencies`` and the ``amqp``, ``redis`` and ``eventlet``
extras. Each must be declared as ``name>=version`` (a minimum CI can install); anything else
is an error, so that a dependency cannot escape the minimum-versions job.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

EXTRAS = ("amqp", "redis", "eventlet")
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][A-Za-z0-9.]*)\s*$")


def minimums(pyproject: Path) -> dict[str, str]:
    """Package name -> declared minimum version."""
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = list(project["dependencies"])
    for extra in EXTRAS:
        specs += project["optional-dependencies"][extra]
    found: dict[str, str] = {}
    for spec in specs:
        match = _PIN.match(spec)
        if match is None:
            raise SystemExit(f"{spec!r}: declare a runtime dependency as name>=minimum")
        found[match.group(1)] = match.group(2)
    return found


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    for name, version in minimums(root / "pyproject.toml").items():
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
