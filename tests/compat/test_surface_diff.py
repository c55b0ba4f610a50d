"""rpcmsg's public surface against an installed oslo.messaging's (see ``surface.py``)."""

from __future__ import annotations

import fnmatch
import sys

from tests.compat import surface
from tests.compat.oslo_env import oslo_python


def test_no_surface_difference_but_the_intended_ones() -> None:
    oslo = surface.dump_with(oslo_python(), "oslo_messaging")
    ours = surface.dump_with(sys.executable, "rpcmsg")
    assert len(oslo["modules"][""]["names"]) > 40 and len(oslo["options"]) > 50
    diffs = surface.compare(oslo, ours)
    intended = surface.load_intended()
    for key, detail in diffs:
        print(f"{key}: {detail}")
    bad = surface.unintended(diffs, intended)
    assert not bad, "differences from oslo.messaging not in surface_intended.txt:\n" + "\n".join(
        f"{k}: {d}" for k, d in bad
    )
    stale = [g for g, _ in intended if not any(fnmatch.fnmatchcase(k, g) for k, _ in diffs)]
    assert not stale, f"surface_intended.txt lists differences that are gone: {stale}"


def _side(**names: dict[str, object]) -> dict[str, object]:
    return {"modules": {"m": {"names": names, "also": {}}}, "options": {}}


def test_compare_reports_what_an_oslo_style_caller_trips_over() -> None:
    sig = [["self", "POSITIONAL_OR_KEYWORD", "<required>"], ["x", "KEYWORD_ONLY", 1]]
    oslo = _side(
        f={"kind": "function", "sig": [["a", "POSITIONAL_OR_KEYWORD", 2]]},
        gone={"kind": "function", "sig": []},
        C={
            "kind": "exception",
            "bases": ["Exception", "ValueError"],
            "init": [],
            "methods": {"s": {"static": True, "sig": []}, "m": {"static": False, "sig": sig}},
        },
    )
    oslo["options"] = {"g.o": {"opt": "IntOpt", "type": "Integer", "default": 1}}
    ours = _side(
        f={"kind": "function", "sig": [["a", "POSITIONAL_OR_KEYWORD", 3]]},
        C={
            "kind": "exception",
            "bases": ["Exception"],
            "init": [["extra", "POSITIONAL_OR_KEYWORD", "<required>"]],
            "methods": {"s": {"static": False, "sig": []}, "m": {"static": False, "sig": sig[:1]}},
        },
    )
    ours["options"] = {"g.o": {"opt": "IntOpt", "type": "Integer", "default": 2}}
    keys = {key for key, _ in surface.compare(oslo, ours)}
    assert keys == {
        "m:f()",  # another default
        "m:gone",  # missing name
        "m:C bases",  # not a ValueError any more
        "m:C()",  # a new required parameter
        "m:C.s",  # no longer static
        "m:C.m()",  # a parameter missing
        "option g.o",  # another default
    }
    assert surface.compare(oslo, oslo) == []
