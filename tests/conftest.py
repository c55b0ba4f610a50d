from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.drivers import DriverEnv, make_env, selected


@pytest.fixture(params=selected())
def env(request: pytest.FixtureRequest) -> Iterator[DriverEnv]:
    """A driver environment; conformance tests taking it run once per driver."""
    driver_env = make_env(request.param)
    yield driver_env
    driver_env.close()


@pytest.fixture
def fake_env() -> Iterator[DriverEnv]:
    driver_env = make_env("fake")
    yield driver_env
    driver_env.close()


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rpcmsg")
