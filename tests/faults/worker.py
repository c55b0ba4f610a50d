"""A server process for the fault tests: an RPC server and a notification listener.

Usage: python -m tests.faults.worker URL EXCHANGE TOPIC NOTIFY_TOPIC NAME HANDLE_SECONDS

Prints "READY" once both consume; then, for each cast of ``record`` and each notification,
"TC <uid>" / "TN <uid>" when its handler starts, sleeps ``HANDLE_SECONDS``, and prints
"C <uid>" / "N <uid>" as the handler ends (before the message is acknowledged): a process
killed mid-work holds messages it has not finished, which must be handled elsewhere.
RPC methods: ``echo(value)``, ``sleep(seconds)`` (prints "SLEEPING"), ``rss()`` (its
resident memory in bytes). Runs until stdin closes or it is killed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts

_PRINT = threading.Lock()


def say(line: str) -> None:
    with _PRINT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Worker:
    def __init__(self, handle_seconds: float) -> None:
        self.handle_seconds = handle_seconds

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def sleep(self, ctxt: Any, seconds: float) -> str:
        say("SLEEPING")
        time.sleep(seconds)
        return "woke"

    def rss(self, ctxt: Any) -> int:
        return rss_bytes()

    def record(self, ctxt: Any, uid: str) -> None:
        say(f"TC {uid}")
        time.sleep(self.handle_seconds)
        say(f"C {uid}")

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        say(f"TN {payload['uid']}")
        time.sleep(self.handle_seconds)
        say(f"N {payload['uid']}")


def main() -> None:
    url, exchange, topic, notify_topic, name = sys.argv[1:6]
    worker = Worker(float(sys.argv[6]))
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    transport = rpcmsg.get_rpc_transport(conf, url)
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server=name), [worker])
    notify_transport = rpcmsg.get_notification_transport(conf, url)
    listener = rpcmsg.get_notification_listener(
        notify_transport, [rpcmsg.Target(topic=notify_topic)], [worker]
    )
    server.start()
    listener.start()
    say(f"READY {os.getpid()}")
    sys.stdin.read()
    for stopping in (server, listener):
        stopping.stop()
        stopping.wait()
    transport.cleanup()
    notify_transport.cleanup()


if __name__ == "__main__":
    main()
