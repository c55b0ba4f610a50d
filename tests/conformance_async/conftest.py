from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conformance_async.env import AsyncDriverEnv, async_drivers, make_async_env


@pytest_asyncio.fixture(params=async_drivers())
async def aenv(request: pytest.FixtureRequest) -> AsyncIterator[AsyncDriverEnv]:
    """An async driver environment; tests taking it run once per async driver."""
    env = make_async_env(request.param)
    yield env
    await env.aclose()
