"""Every script in samples/ runs to success, on fake:// and on each real broker reachable.

Each sample is a subprocess (as a user runs it) given ``--url``; it must exit 0 within the
timeout. Real drivers are skipped while their entry point does not load (and, off CI, while
their broker is unreachable), exactly as the conformance suite does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.drivers import make_env, selected

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p.name for p in (ROOT / "samples").glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 60
#: What each sample prints when it worked (each also checks itself and exits 1 otherwise).
EXPECTED = {
    "hello.py": "one call answered, one cast delivered",
    "versioned.py": "(fell back to 1.0)",
    "notifications.py": "got all 6 between its members",
    "eventlet_service.py": "the green threads served them concurrently",
    "long_call.py": "a call to a server that is gone failed after",
}


def test_every_sample_has_an_expectation() -> None:
    assert set(SAMPLES) == set(EXPECTED)


@pytest.mark.parametrize("driver", selected())
@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_runs(sample: str, driver: str) -> None:
    # make_env skips (or fails in CI) like the conformance suite, and after the run deletes
    # what the sample left on the broker under its exchange and topic.
    env = make_env(driver)
    try:
        argv = ["--url", env.url, "--exchange", env.exchange, "--topic", env.unique("sample")]
        proc = subprocess.run(
            [sys.executable, str(ROOT / "samples" / sample), *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=ROOT,
        )
    finally:
        env.close()
    assert proc.returncode == 0, f"{sample} on {driver} failed:\n{proc.stdout}\n{proc.stderr}"
    assert EXPECTED[sample] in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr


def test_hello_prints_the_answer() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "samples" / "hello.py")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Hello, world!" in proc.stdout


def test_hello_with_a_bad_url_says_so_in_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "samples" / "hello.py"), "--url", "//localhost:5672"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "hello.py: No scheme specified in transport URL '//localhost:5672'"
    )
    assert "Traceback" not in proc.stderr
