"""A blocking queue that stays cooperative under eventlet monkey patching.

Attributes are looked up on the modules at call time, so a process that monkey-patches after
importing rpcmsg still gets green queues and locks.
"""

from __future__ import annotations

import queue
from typing import Any

__all__ = ["Empty", "new_queue"]

Empty = queue.Empty


def new_queue() -> Any:
    """An unbounded FIFO with ``put``/``get(timeout=)`` (``queue.SimpleQueue`` when unpatched)."""
    return queue.SimpleQueue()
