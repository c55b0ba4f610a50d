"""The test suite's own rule: a driver that cannot run is skipped locally, failed in CI."""

from __future__ import annotations

import pytest

from tests import drivers


@pytest.fixture
def ghost(monkeypatch: pytest.MonkeyPatch) -> str:
    spec = drivers.DriverSpec("ghost", "ghost-not-installed", lambda run: "ghost-not-installed://")
    monkeypatch.setitem(drivers.SPECS, "ghost", spec)
    return "ghost"


def test_a_driver_not_installed_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ghost: str) -> None:
    monkeypatch.setattr(drivers, "IN_CI", True)
    outcome: BaseException | None = None
    try:
        drivers.make_env(ghost)
    except BaseException as exc:  # a skip would otherwise skip this very test
        outcome = exc
    assert isinstance(outcome, pytest.fail.Exception), outcome
    assert "not installed" in str(outcome)


def test_a_driver_not_installed_is_skipped_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ghost: str
) -> None:
    monkeypatch.setattr(drivers, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        drivers.make_env(ghost)
