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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Delete the durable RabbitMQ queues and exchanges the session's tests left behind."""
    from tests.drivers import CREATED

    if CREATED.get("rabbit"):
        try:
            from tests.amqp.admin import purge

            purge(*CREATED["rabbit"])
        except Exception as exc:  # tidying must never fail a run
            logging.getLogger(__name__).warning("Could not purge RabbitMQ test queues: %s", exc)
