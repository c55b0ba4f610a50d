"""The server half of a benchmark script in a process of its own (stdlib only: the oslo and
peer scripts run on other virtualenvs' pythons).

A script run with its serving arguments starts its server, calls :func:`serve_forever`
(prints ``ready`` and blocks until its stdin is closed), then stops its server. The client
half starts it with :func:`spawn` and ends it with :func:`stop`.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

READY = "ready"


def serve_forever() -> None:
    """Say ``ready`` on stdout and wait until the parent closes our stdin."""
    print(READY, flush=True)
    while os.read(sys.stdin.fileno(), 4096):
        pass


def spawn(argv: list[str], timeout: float = 60.0) -> subprocess.Popen[str]:
    """Start ``argv`` and wait until it says ``ready``; RuntimeError if it does not."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        ready = select.select([proc.stdout], [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            stop(proc)
            raise RuntimeError(f"{argv[1]} did not start serving in {timeout:.0f} s")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{argv[1]} exited with {proc.wait()} before serving")
        if line.strip() == READY:
            return proc


def stop(proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Close the server's stdin (its signal to stop) and wait; kill it if it hangs."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
