"""The command line shared by the scripts that generate files under docs/."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(
    output: Path, render: Callable[[], str], script: str, argv: list[str] | None
) -> int:
    """Write ``render()`` to ``output``, or with ``--check`` exit 1 when it differs."""
    parser = argparse.ArgumentParser(description=f"Generate {output.name}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run python docs/{script}", file=sys.stderr)
            return 1
        return 0
    output.write_text(text)
    return 0
