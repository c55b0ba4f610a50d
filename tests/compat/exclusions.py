"""The committed list of oslo.messaging tests left out of the compat run, and its matcher.

``excluded.txt``: one ``<test id glob> -- <reason>`` a line; ``#`` starts a comment line.
The glob is matched (fnmatch) against the full unittest id, scenario suffix included.
"""

from __future__ import annotations

import fnmatch
import os

EXCLUDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "excluded.txt")


def load_exclusions(path: str = EXCLUDED) -> list[tuple[str, str]]:
    """``(glob, reason)`` pairs of a ``<glob> -- <reason>`` list (this one, or
    ``surface_intended.txt``); a line without a reason is an error."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            glob, sep, reason = line.partition(" -- ")
            if not sep or not reason.strip():
                raise ValueError(f"{path}:{number}: no ' -- reason' given for {line!r}")
            entries.append((glob.strip(), reason.strip()))
    return entries


def is_excluded(test_id: str, entries: list[tuple[str, str]]) -> bool:
    return any(fnmatch.fnmatchcase(test_id, glob) for glob, _ in entries)
