"""Objects the ``rpcmsg serve`` and ``rpcmsg asyncapi`` tests name as ``module:object``."""

from __future__ import annotations

import asyncio
from typing import Any

import rpcmsg


class Calculator:
    """Arithmetic for the command-line tests."""

    def add(self, a: int, b: int = 1) -> int:
        """Add two numbers.

        The second one defaults to 1.
        """
        return a + b

    async def slow_double(self, x: float) -> float:
        """Double x, after a short sleep, on the loop."""
        await asyncio.sleep(0.01)
        return 2 * x

    def fail(self, why: str) -> None:
        """Raise ValueError(why)."""
        raise ValueError(why)

    def _hidden(self) -> None:
        """Private: never served."""


class Versioned:
    """An rpcmsg endpoint: methods take the context, a target gives namespace and version."""

    target = rpcmsg.Target(namespace="math", version="1.3")

    def whoami(self, ctxt: Any, prefix: str = "") -> str:
        """The request context's user, with a prefix."""
        return prefix + str(ctxt.get("user"))


class Audit:
    """A notification listener's endpoint."""

    def info(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        """Record an info notification."""

    def error(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        """Record an error notification."""


SERVICE = [Calculator(), Versioned()]
WITH_NOTIFICATIONS = [Calculator(), Versioned(), Audit()]
