"""Executors: how a server runs its workers (OS threads, or eventlet green threads).

An executor only spawns and joins workers; the server's worker pool decides how many run.
Third parties add one under the ``rpcmsg.executors`` entry points (an asyncio one is next).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["EventletExecutor", "Executor", "ThreadingExecutor"]


class Executor(abc.ABC):
    """Spawns worker functions and waits for them to return."""

    name = "abstract"

    @abc.abstractmethod
    def spawn(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` concurrently with the caller; returns at once."""

    @abc.abstractmethod
    def join(self, timeout: float | None = None) -> bool:
        """Wait until every spawned function returned; False if ``timeout`` passed first."""


class ThreadingExecutor(Executor):
    """Each worker is a daemon OS thread (or a green thread in a monkey-patched process)."""

    name = "threading"

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def spawn(self, fn: Callable[[], None]) -> None:
        thread = threading.Thread(target=fn, name="rpcmsg-worker", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
            if thread.is_alive():
                return False
        return True


class EventletExecutor(Executor):
    """Each worker is an eventlet green thread. Use it in a monkey-patched process."""

    name = "eventlet"

    def __init__(self) -> None:
        import eventlet

        self._eventlet: Any = eventlet
        self._threads: list[Any] = []

    def spawn(self, fn: Callable[[], None]) -> None:
        self._threads = [g for g in self._threads if not g.dead]
        self._threads.append(self._eventlet.spawn(fn))

    def join(self, timeout: float | None = None) -> bool:
        threads = list(self._threads)
        try:
            with self._eventlet.Timeout(timeout):
                for green in threads:
                    green.wait()
        except self._eventlet.Timeout:
            return False
        return True
