"""The test's side of :mod:`tests.faults.worker` processes: start, read, kill, reap."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.faults.workload import wait_until

__all__ = ["ROOT", "WorkerProcess"]

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A running worker; a thread reads its output into ``casts``, ``notes`` and ``lines``."""

    def __init__(
        self, url: str, exchange: str, topic: str, notify_topic: str, name: str, handle: float
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.faults.worker"),
                *(url, exchange, topic, notify_topic, name, str(handle)),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lock = threading.Lock()
        self.casts: collections.Counter[str] = collections.Counter()
        self.notes: collections.Counter[str] = collections.Counter()
        self.lines: collections.Counter[str] = collections.Counter()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not wait_until(lambda: self.lines["READY"] > 0 or self.proc.poll() is not None, 30):
            self.kill()
        if not self.lines["READY"]:
            self.kill()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"worker {name} did not start:\n{err}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, _, rest = line.strip().partition(" ")
            with self.lock:
                if kind == "C":
                    self.casts[rest] += 1
                elif kind == "N":
                    self.notes[rest] += 1
                self.lines[kind] += 1

    def handled(self) -> tuple[int, int]:
        with self.lock:
            return sum(self.casts.values()), sum(self.notes.values())

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, sockets closed by the kernel."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(5)

    def stop(self, timeout: float = 20) -> None:
        """Close its stdin (a clean stop); kill it if it does not end within ``timeout``."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, OSError):
                pass
        self.kill()
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def wait_lines(self, kind: str, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.lines[kind] >= count:
                    return True
            time.sleep(0.02)
        return False
