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
    "async_service.py": "the async service answered everything.",
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


#: Runs a sample with the optional libraries hidden (as if their extra were not installed).
_WITHOUT_EXTRAS = (
    "import runpy, sys\n"
    "for name in ('eventlet', 'matplotlib', 'opentelemetry'):\n"
    "    sys.modules[name] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


@pytest.mark.parametrize("sample", SAMPLES)
def test_help_needs_no_extra(sample: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS, str(ROOT / "samples" / sample), "--help"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {sample}"), proc.stdout


def test_eventlet_sample_without_eventlet_names_the_extra() -> None:
    sample = str(ROOT / "samples" / "eventlet_service.py")
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS, sample],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "eventlet_service.py needs eventlet: pip install 'rpcmsg[eventlet]'"
    )


def test_readme_table_lists_every_sample_with_its_extras() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `") and ".py`" in line]
    listed = {row.split("`")[1]: row.split("|")[3].strip() for row in rows}
    assert set(listed) == set(SAMPLES)
    assert "[eventlet]" in listed["eventlet_service.py"]
