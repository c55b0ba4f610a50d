"""Run oslo.messaging's own unit tests for its public API against rpcmsg.

The tests come from the oslo.messaging wheel, extracted to a temporary directory at run time
(never committed), and run in the compat virtualenv (oslo's test requirements and rpcmsg, but
not oslo.messaging itself, see ``.ci/run``) through the ``oslo_messaging`` -> ``rpcmsg`` import
alias of ``oslo_alias.py``. Each module runs in a process of its own, two at a time.

Stdlib only, so it runs from any interpreter::

    python tests/compat/suite.py [--python .venv-compat/bin/python] [--wheel W.whl]
                                 [--failures FILE] [--module NAME ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OSLO_VERSION = "18.3.1"

# oslo.messaging's test modules for its public API. Left out: drivers/* (oslo's own
# drivers' internals), functional/* (need oslo's live-broker set-up), test_utils and
# test_config_opts_proxy (private helpers).
MODULES = [
    "oslo_messaging.tests.rpc.test_client",
    "oslo_messaging.tests.rpc.test_server",
    "oslo_messaging.tests.rpc.test_dispatcher",
    "oslo_messaging.tests.notify.test_notifier",
    "oslo_messaging.tests.notify.test_listener",
    "oslo_messaging.tests.notify.test_dispatcher",
    "oslo_messaging.tests.notify.test_logger",
    "oslo_messaging.tests.notify.test_log_handler",
    "oslo_messaging.tests.notify.test_middleware",
    "oslo_messaging.tests.test_transport",
    "oslo_messaging.tests.test_urls",
    "oslo_messaging.tests.test_target",
    "oslo_messaging.tests.test_exception_serialization",
    "oslo_messaging.tests.test_expected_exceptions",
    "oslo_messaging.tests.test_fixture",
    "oslo_messaging.tests.test_opts",
]

PASSED = ("pass",)


@dataclass
class ModuleResult:
    name: str
    collected: list[str] = field(default_factory=list)
    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    problem: str = ""  # import error, crash or timeout of the module's process

    def outcome(self, test_id: str) -> tuple[str, str]:
        """Status and detail; a test the process never finished counts as an error."""
        return self.results.get(test_id, ("error", self.problem or "not run"))

    @property
    def passed(self) -> int:
        return sum(1 for t in self.collected if self.outcome(t)[0] in PASSED)

    @property
    def total(self) -> int:
        # An import failure still counts: at least one test that did not pass.
        return max(len(self.collected), 1 if self.problem and not self.collected else 0)


def default_python() -> str | None:
    path = os.environ.get("RPCMSG_COMPAT_PYTHON") or os.path.join(
        ROOT, ".venv-compat", "bin", "python"
    )
    return path if os.path.exists(path) else None


def default_wheel() -> str | None:
    path = os.environ.get("RPCMSG_OSLO_WHEEL")
    if path:
        return path if os.path.exists(path) else None
    found = sorted(
        glob.glob(
            os.path.join(ROOT, ".venv-compat", "wheels", f"oslo_messaging-{OSLO_VERSION}-*.whl")
        )
    )
    return found[-1] if found else None


def extract_tests(wheel: str, dest: str) -> str:
    """Extract ``oslo_messaging/tests/`` from the wheel; return that directory."""
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith("oslo_messaging/tests/")]
        if not members:
            raise RuntimeError(f"{wheel} ships no oslo_messaging/tests/")
        zf.extractall(dest, members)
    return os.path.join(dest, "oslo_messaging", "tests")


def _run_one(python: str, tests_dir: str, name: str, out_dir: str, timeout: float) -> ModuleResult:
    """Run a module's tests, starting its process again past each test that hung."""
    result = ModuleResult(name)
    out_path = os.path.join(out_dir, name + ".jsonl")
    skip_path = os.path.join(out_dir, name + ".skip.json")
    deadline = time.monotonic() + timeout
    while True:
        with open(skip_path, "w", encoding="utf-8") as f:
            json.dump(sorted(result.results), f)
        cmd = [
            python,
            os.path.join(HERE, "run_module.py"),
            *(tests_dir, name, os.path.join(HERE, "excluded.txt"), out_path, skip_path),
        ]
        left = deadline - time.monotonic()
        returncode: int | None = None
        try:
            proc = subprocess.run(
                cmd, cwd=out_dir, capture_output=True, text=True, timeout=max(left, 1), check=False
            )
            returncode = proc.returncode
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        except subprocess.TimeoutExpired:
            result.problem = f"module process killed after {timeout:.0f}s"
        done = _read_events(out_path, result)
        if done or result.problem:
            return result
        if returncode != 3:  # not the watchdog: a crash
            result.problem = f"module process exited {returncode}: {tail[0][:300]}"
            return result


def _read_events(path: str, result: ModuleResult) -> bool:
    done = False
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if "collected" in event:
                result.collected = event["collected"]
                done = False
            elif "import_error" in event:
                lines = event["import_error"].strip().splitlines()
                result.problem = "import failed: " + (lines[-1] if lines else "")
            elif "done" in event:
                done = True
            else:
                result.results[event["id"]] = (event["status"], event["detail"])
    return done


def run(
    python: str,
    wheel: str,
    modules: list[str] | None = None,
    jobs: int = 2,
    module_timeout: float = 400.0,
) -> list[ModuleResult]:
    with tempfile.TemporaryDirectory(prefix="rpcmsg-compat-") as tmp:
        tests_dir = extract_tests(wheel, os.path.join(tmp, "wheel"))
        names = modules or MODULES
        with ThreadPoolExecutor(jobs) as pool:
            futures = [
                pool.submit(_run_one, python, tests_dir, n, tmp, module_timeout) for n in names
            ]
            return [f.result() for f in futures]


def counts_table(results: list[ModuleResult]) -> str:
    lines = [f"{'module':<55} {'passed':>6} {'total':>6}"]
    for r in results:
        note = f"  ({r.problem})" if r.problem else ""
        lines.append(f"{r.name:<55} {r.passed:>6} {r.total:>6}{note}")
    passed, total = sum(r.passed for r in results), sum(r.total for r in results)
    rate = 100.0 * passed / total if total else 0.0
    lines.append(f"{'all':<55} {passed:>6} {total:>6}  {rate:.1f}%")
    return "\n".join(lines)


def failures_text(results: list[ModuleResult]) -> str:
    out = []
    for r in results:
        bad = [(t, *r.outcome(t)) for t in r.collected if r.outcome(t)[0] not in PASSED]
        if not bad and not r.problem:
            continue
        out.append(f"== {r.name}: {r.passed}/{r.total} passed")
        if r.problem:
            out.append(f"   module: {r.problem}")
        for test_id, status, detail in bad:
            short = test_id[len(r.name) + 1 :] if test_id.startswith(r.name + ".") else test_id
            out.append(f"{short}  [{status}] {detail}")
        out.append("")
    return "\n".join(out)


def report_text(results: list[ModuleResult]) -> str:
    return (
        "# oslo.messaging 18.3.1's unit tests on rpcmsg (tests/compat). Re-run one module:\n"
        "#   RPCMSG_COMPAT_PYTHON=/work/wt/compat/.venv-compat/bin/python \\\n"
        "#   python3 tests/compat/suite.py --module oslo_messaging.tests.rpc.test_client\n"
        "# (from your worktree: it tests the rpcmsg of the checkout it runs from)\n\n"
        + counts_table(results)
        + "\n\n"
        + failures_text(results)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=default_python())
    parser.add_argument("--wheel", default=default_wheel())
    parser.add_argument("--failures", help="write the failing tests, by module, to this file")
    parser.add_argument("--module", action="append", help="run only this module (repeatable)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.python or not args.wheel:
        parser.error("no compat python or oslo.messaging wheel (see .ci/run)")
    results = run(args.python, args.wheel, args.module, args.jobs)
    print(counts_table(results))
    if args.failures:
        with open(args.failures, "w", encoding="utf-8") as f:
            f.write(report_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
