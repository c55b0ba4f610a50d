"""The server side of the benchmark workloads, in the client's process or in one of its own.

    python -m rpcmsg.cli._benchserve URL TOKEN

run as a process, starts the workloads' servers on ``URL`` (an RPC server on the calls topic,
one on the casts topic, a notification listener on the notifications topic, threading
executor, each on a transport of its own), prints ``ready`` on stdout once they consume, and
serves until its standard input is closed; then it stops them and exits 0. A server that
cannot start makes it exit 1 with the error on stderr, before ``ready``.

:class:`ServerProcess` is the client's handle on such a process; :func:`start_servers` is the
same start in the client's own process (``--in-process``, and the fake driver, whose broker
lives in one process). Either way the client learns what the casts and notifications
endpoints received through :meth:`Service.stats` (an RPC call ``stats`` on the calls topic
when the servers are in another process). Times are ``time.monotonic()``, one clock for every
process of the machine.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

from oslo_config import cfg

from rpcmsg.opts import register_opts
from rpcmsg.server import MessageHandlingServer
from rpcmsg.target import Target
from rpcmsg.transport import Transport, get_rpc_transport

__all__ = ["EXCHANGE", "TOPICS", "ServerProcess", "Service", "bench_conf", "start_servers"]

#: The control exchange and topics the workloads use (see :mod:`rpcmsg.cli.workloads`).
EXCHANGE = "rpcmsg-bench"
TOPICS = {
    "calls": "rpcmsg-bench-calls",
    "casts": "rpcmsg-bench-casts",
    "notes": "rpcmsg-bench-notes",
    "async": "rpcmsg-bench-async-calls",  # benchmarks/async_workloads.py
}
READY = "ready"
START_SECONDS = 60.0
STOP_SECONDS = 30.0


def bench_conf() -> cfg.ConfigOpts:
    """The configuration both sides use: rpcmsg's options, the workloads' exchange."""
    conf = cfg.ConfigOpts()
    conf([], project="rpcmsg-bench", default_config_files=[])
    register_opts(conf)
    conf.set_override("control_exchange", EXCHANGE)
    return conf


class Service:
    """The benchmarked endpoints: an echo for calls, counting sinks for casts and notes.

    Only messages carrying ``token`` (the run's) are counted, so that leftovers of another
    run cannot inflate a figure.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._counts = {"casts": [0, 0.0], "notes": [0, 0.0]}

    def echo(self, ctxt: Any, data: str) -> str:
        return data

    def sink(self, ctxt: Any, data: str) -> None:
        self._count("casts", data)

    # The notification listener's handler.
    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, md: Any) -> None:
        self._count("notes", payload.get("data", "") if isinstance(payload, dict) else "")

    def pid(self, ctxt: Any) -> int:
        """The id of the process serving (for the test that it is not the client's)."""
        return os.getpid()

    def stats(self, ctxt: Any, kind: str) -> list[float]:
        """``[received, time.monotonic() of the last]`` for ``"casts"`` or ``"notes"``."""
        with self._lock:
            return list(self._counts[kind])

    def _count(self, kind: str, data: str) -> None:
        if not data.startswith(self.token):
            return
        with self._lock:
            counts = self._counts[kind]
            counts[0] += 1
            counts[1] = time.monotonic()


def start_servers(
    conf: cfg.ConfigOpts, url: str, service: Service
) -> tuple[list[MessageHandlingServer], list[Transport]]:
    """Start the workloads' servers for ``service`` on ``url``; stops what started on error."""
    from rpcmsg.notify import get_notification_listener, get_notification_transport
    from rpcmsg.rpc.server import get_rpc_server

    servers: list[MessageHandlingServer] = []
    transports: list[Transport] = []
    try:
        for topic in (TOPICS["calls"], TOPICS["casts"]):
            transports.append(get_rpc_transport(conf, url))
            target = Target(topic=topic, server="s1")
            servers.append(get_rpc_server(transports[-1], target, [service], "threading"))
            servers[-1].start()
        transports.append(get_notification_transport(conf, url))
        servers.append(
            get_notification_listener(
                transports[-1], [Target(topic=TOPICS["notes"])], [service], "threading"
            )
        )
        servers[-1].start()
    except BaseException:
        stop_servers(servers, transports)
        raise
    return servers, transports


def stop_servers(servers: list[MessageHandlingServer], transports: list[Transport]) -> None:
    for server in servers:
        server.stop()
        server.wait()
    for transport in transports:
        transport.cleanup()


class ServerProcess:
    """The workloads' servers in a child process (this module run with ``-m``)."""

    def __init__(self, url: str, token: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "rpcmsg.cli._benchserve", url, token],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # its errors go where the client's go
            text=True,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + START_SECONDS
        line = ""
        while not line:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise RuntimeError(f"the server process did not start in {START_SECONDS:.0f} s")
            ready, _, _ = select.select([self._proc.stdout], [], [], left)
            if ready:
                line = self._proc.stdout.readline()
                if not line:  # end of file: it exited
                    code = self._proc.wait()
                    raise RuntimeError(f"the server process exited with {code} before serving")
        if line.strip() != READY:
            self.close()
            raise RuntimeError(f"the server process said {line.strip()!r}")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def close(self) -> None:
        """Ask the process to stop (end of its stdin) and wait; kill it if it hangs."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def main(argv: list[str]) -> int:
    url, token = argv
    service = Service(token)
    try:
        servers, transports = start_servers(bench_conf(), url, service)
    except Exception as exc:
        print(f"rpcmsg bench server: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:
        print(READY, flush=True)
        while os.read(sys.stdin.fileno(), 4096):
            pass
    finally:
        stop_servers(servers, transports)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
