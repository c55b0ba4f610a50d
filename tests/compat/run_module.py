"""Run one module of oslo.messaging's own tests against rpcmsg; one JSON line per event.

Usage (in the compat virtualenv): ``python run_module.py TESTS_DIR MODULE EXCLUDED OUT``.
``TESTS_DIR`` is the extracted ``oslo_messaging/tests``; ``EXCLUDED`` the committed exclusion
list (tests not even run); ``OUT`` receives ``{"collected": [...]}``, then one
``{"id", "status", "detail"}`` per finished test (written as it finishes, so a killed run keeps
what it had), then ``{"done": true}``. Scenarios count separately: unittest's loader honours
the modules' ``load_tests = testscenarios.load_tests_apply_scenarios``.
"""

from __future__ import annotations

import json
import os
import re
import sys
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


def _summary(err: Any) -> str:
    """The exception line, plus where in oslo's test it was raised: ``Error: msg (at file:N)``.

    testtools wraps failures in a ``_StringException`` holding the whole traceback text (with
    clean-up tracebacks first), so the last exception line of that text is the one that counts.
    """
    etype, value, tb = err
    text = "".join(traceback.format_exception(etype, value, tb))
    lines = [ln for ln in text.splitlines() if ln.strip() and ln.strip() not in ("}}}", "^")]
    exc_line = ""
    for ln in reversed(lines):
        if not ln.startswith((" ", "\t", "Traceback", "During handling")) and ln.strip("^~ "):
            exc_line = ln.strip()
            break
    where = ""
    for match in re.finditer(r'File "[^"]*/oslo_messaging/tests/([^"]+)", line (\d+)', text):
        where = f" (at {match.group(1)}:{match.group(2)})"
    return (" ".join(exc_line.split())[:280] + where)[:360]


class _Recorder(unittest.TestResult):
    def __init__(self, out: Any) -> None:
        super().__init__()
        self._out = out

    def _emit(self, test: Any, status: str, detail: str = "") -> None:
        self._out.write(json.dumps({"id": test.id(), "status": status, "detail": detail}) + "\n")
        self._out.flush()

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


def main(tests_dir: str, module_name: str, excluded_path: str, out_path: str) -> int:
    # oslotest's per-test timeout: a hung test fails alone instead of eating the module's.
    os.environ.setdefault("OS_TEST_TIMEOUT", "30")
    oslo_alias.install(tests_dir)
    patterns = load_exclusions(excluded_path)
    with open(out_path, "w", encoding="utf-8") as out:
        try:
            module = __import__(module_name, fromlist=["_"])
            suite = unittest.TestLoader().loadTestsFromModule(module)
        except Exception:
            out.write(json.dumps({"import_error": traceback.format_exc()[-2000:]}) + "\n")
            return 1
        tests = [t for t in _iter_tests(suite) if not is_excluded(t.id(), patterns)]
        out.write(json.dumps({"collected": [t.id() for t in tests]}) + "\n")
        out.flush()
        result = _Recorder(out)
        unittest.TestSuite(tests).run(result)
        out.write(json.dumps({"done": True}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
