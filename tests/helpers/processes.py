"""Servers a test starts for itself (a Sentinel, a TLS Redis), and an endpoint they share."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.drivers import IN_CI

__all__ = ["EchoRecord", "free_port", "need", "server_process"]


def need(binary: str) -> str:
    """The path of ``binary``; a test without it is skipped, or fails in CI."""
    path = shutil.which(binary)
    if path is None:
        if IN_CI:
            pytest.fail(f"{binary} is needed by this test")
        pytest.skip(f"{binary} not installed")
    return path


def free_port() -> int:
    """A local TCP port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server_process(args: list[str], port: int, what: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` until the block ends; fail the test, showing its errors, when it does
    not listen on ``port`` within 10 seconds."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            errors = proc.stderr.read() if proc.stderr else b""
            pytest.fail(f"{what} did not start: {errors.decode(errors='replace')}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


class EchoRecord:
    """An endpoint: ``echo`` returns its value, ``record`` keeps it in ``casts``."""

    def __init__(self) -> None:
        self.casts: list[Any] = []

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def record(self, ctxt: Any, value: Any) -> None:
        self.casts.append(value)
