"""A long call kept alive by the call monitor.

With ``call_monitor_timeout`` set, the server sends keep-alives while the method runs. The
client then waits as long as the server is working (up to ``timeout``, the hard limit), yet
notices within ``call_monitor_timeout`` a server that sends none (dead, gone, stuck before
the call started), rather than only at ``timeout``.

    python samples/long_call.py [--url URL]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from oslo_config import cfg

import rpcmsg

WORK_SECONDS = 1.5
MONITOR_SECONDS = 0.5


class Cruncher:
    def crunch(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)  # stands for a long computation
        return f"crunched for {seconds} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    args = parser.parse_args(argv)

    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="long-call")
    topic = args.topic or f"long-{uuid.uuid4().hex[:8]}"
    transport = rpcmsg.get_rpc_transport(conf, url=args.url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="worker-1"), [Cruncher()]
    )
    server.start()
    try:
        client = rpcmsg.get_rpc_client(
            transport,
            rpcmsg.Target(topic=topic),
            timeout=60,
            call_monitor_timeout=MONITOR_SECONDS,
        )
        started = time.monotonic()
        result = client.call({}, "crunch", seconds=WORK_SECONDS)
        elapsed = time.monotonic() - started
        print(
            f"{result!r} after {elapsed:.1f} s, {WORK_SECONDS / MONITOR_SECONDS:.0f} times the "
            f"{MONITOR_SECONDS} s monitor timeout: "
            "kept alive by the server's keep-alives"
        )

        # A server that is gone sends no keep-alives: noticed after the monitor timeout,
        # not after the 60 s timeout.
        started = time.monotonic()
        try:
            client.prepare(server="worker-gone").call({}, "crunch", seconds=1.0)
            print("unexpected: a server that does not exist answered")
            return 1
        except rpcmsg.MessagingTimeout:
            elapsed = time.monotonic() - started
            print(f"a call to a server that is gone failed after {elapsed:.1f} s, not 60 s")
        if elapsed > 10 * MONITOR_SECONDS:
            print("the call monitor did not cut the wait short")
            return 1
        return 0
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
