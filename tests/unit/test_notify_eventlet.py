"""Notification listeners on the eventlet executor (in a monkey-patched subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "helpers" / "notify_eventlet.py"


def test_listeners_run_on_green_threads() -> None:
    proc = subprocess.run(
        [sys.executable, str(HELPER)], capture_output=True, text=True, timeout=40, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdict["all"] and verdict["received"] == [0, 1, 2, 3, 4]
    assert verdict["most_at_once"] >= 2, "handlers that nap must overlap on green threads"
    assert verdict["batches_done"] and verdict["batched"] == [0, 1, 2, 3, 4]
    # An endpoint that always requeues does not starve the other green threads.
    assert verdict["requeue_loop_stopped"]
