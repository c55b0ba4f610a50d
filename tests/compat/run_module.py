"""Run one module of oslo.messaging's own tests against rpcmsg; one JSON line per event.

Usage (in the compat virtualenv): ``run_module.py TESTS_DIR MODULE EXCLUDED OUT SKIP``.
``TESTS_DIR`` is the extracted ``oslo_messaging/tests``; ``EXCLUDED`` the committed exclusion
list (tests not even run); ``SKIP`` a JSON list of test ids already run. ``OUT`` gets
appended ``{"collected": [...]}``, then one ``{"id", "status", "detail"}`` per finished test
(written as it finishes, so a killed run keeps what it had), then ``{"done": true}``. A test
running over ``RPCMSG_COMPAT_TEST_TIMEOUT`` seconds (default 20) is recorded as hung and the
process exits with status 3; ``suite.py`` then starts it again past that test. Scenarios
count separately: unittest's loader honours the modules' ``load_tests =
testscenarios.load_tests_apply_scenarios``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import traceback
import unittest
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# This checkout's rpcmsg wins over whatever the virtualenv has installed (another worktree's
# editable install, say): the suite tests the code next to it.
sys.path[:0] = [HERE, ROOT, os.path.join(ROOT, "drivers")]

import oslo_alias  # noqa: E402
from exclusions import is_excluded, load_exclusions  # noqa: E402


def _iter_tests(suite: Any) -> Any:
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iter_tests(item)
        else:
            yield item


_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Failure|Timeout|Mismatch)\b")


def _summary(err: Any) -> str:
    """The exception line, plus where in oslo's test it was raised: ``Error: msg (at file:N)``.

    testtools wraps failures in a ``_StringException`` holding the whole traceback text, with
    ``{{{ }}}`` detail blocks (clean-up tracebacks) first: the exception line that counts is
    the first one of the last chained traceback outside those blocks.
    """
    etype, value, tb = err
    text = "".join(traceback.format_exception(etype, value, tb))
    text = text.replace("testtools.testresult.real._StringException: ", "")
    main = re.sub(r"\{\{\{.*?\}\}\}", "", text, flags=re.S)  # testtools' details blocks
    main = re.split(
        r"^(?:During handling of the above|The above exception was)[^\n]*$", main, flags=re.M
    )[-1]
    lines = [ln for ln in main.splitlines() if ln.strip() and ln.strip() not in ("}}}", "^")]
    exc_line = ""
    for index, line in enumerate(lines):
        if _EXC_LINE.match(line):
            exc_line = " ".join(lines[index : index + 4])  # a message may go on several lines
            break
    where = ""
    for match in re.finditer(r'File "[^"]*/oslo_messaging/tests/([^"]+)", line (\d+)', text):
        where = f" (at {match.group(1)}:{match.group(2)})"
    return (" ".join(exc_line.split())[:280] + where)[:360]


# Captured before oslo's tests/__init__.py monkey-patches with eventlet: the watchdog must be
# a real thread sleeping for real (oslotest's SIGALRM timeout fires in eventlet's hub, where
# it is lost, so it cannot stop a hung test).
_real_sleep = time.sleep
_monotonic = time.monotonic
_current: list[Any] = [None, 0.0]


def _write(fd: int, event: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(event) + "\n").encode())


def _watchdog(fd: int, limit: float) -> None:
    """Record the running test as timed out and end the process once it runs over ``limit``
    seconds; ``suite.py`` starts the module again after it."""
    while True:
        _real_sleep(0.5)
        test_id, since = _current
        if test_id is not None and _monotonic() - since > limit:
            _write(fd, {"id": test_id, "status": "error", "detail": f"hung: over {limit:.0f}s"})
            os._exit(3)


class _Recorder(unittest.TestResult):
    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def startTest(self, test: Any) -> None:
        _current[:] = [test.id(), _monotonic()]
        super().startTest(test)

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)
        _current[:] = [None, 0.0]

    def _emit(self, test: Any, status: str, detail: str = "") -> None:
        _write(self._fd, {"id": test.id(), "status": status, "detail": detail})

    def addSuccess(self, test: Any) -> None:
        self._emit(test, "pass")

    def addFailure(self, test: Any, err: Any) -> None:
        self._emit(test, "fail", _summary(err))

    def addError(self, test: Any, err: Any) -> None:
        self._emit(test, "error", _summary(err))

    def addSkip(self, test: Any, reason: str) -> None:
        self._emit(test, "skip", str(reason)[:300])

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        self._emit(test, "pass", "expected failure")

    def addUnexpectedSuccess(self, test: Any) -> None:
        self._emit(test, "fail", "unexpected success")


def main(tests_dir: str, module_name: str, excluded_path: str, out_path: str, skip: str) -> int:
    """Run the module's tests but those in the JSON list file ``skip`` (already run)."""
    limit = float(os.environ.get("RPCMSG_COMPAT_TEST_TIMEOUT", "20"))
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with open(skip, encoding="utf-8") as f:
        done = set(json.load(f))
    threading.Thread(target=_watchdog, args=(fd, limit), daemon=True).start()
    oslo_alias.install(tests_dir)
    patterns = load_exclusions(excluded_path)
    try:
        module = __import__(module_name, fromlist=["_"])
        suite = unittest.TestLoader().loadTestsFromModule(module)
    except Exception:
        _write(fd, {"import_error": traceback.format_exc()[-2000:]})
        return 1
    tests = [t for t in _iter_tests(suite) if not is_excluded(t.id(), patterns)]
    _write(fd, {"collected": [t.id() for t in tests]})
    unittest.TestSuite([t for t in tests if t.id() not in done]).run(_Recorder(fd))
    _write(fd, {"done": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
