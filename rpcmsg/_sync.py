"""Blocking primitives that stay cooperative under eventlet monkey patching.

Attributes are looked up on the modules at call time, so a process that monkey-patches after
importing rpcmsg still gets green queues and locks.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

__all__ = ["Empty", "new_event", "new_lock", "new_queue"]

Empty = queue.Empty


def new_queue() -> Any:
    """An unbounded FIFO with ``put``/``get(timeout=)`` (``queue.SimpleQueue`` when unpatched)."""
    return queue.SimpleQueue()


def new_lock() -> Any:
    return threading.Lock()


def new_event() -> Any:
    return threading.Event()
