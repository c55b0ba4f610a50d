"""The async servers pass ``capacity`` to drivers that take it, and not to third-party
drivers written before the async seam had it."""

from __future__ import annotations

from typing import Any

from rpcmsg.asyncio._server import capacity_for


async def new_listen(target: Any, *, capacity: int | None = None) -> None: ...


async def old_listen(target: Any) -> None: ...


async def open_listen(target: Any, **kwargs: Any) -> None: ...


def test_capacity_goes_only_to_drivers_that_take_it() -> None:
    assert capacity_for(new_listen, 40) == {"capacity": 40}
    assert capacity_for(open_listen, 40) == {"capacity": 40}
    assert capacity_for(old_listen, 40) == {}
