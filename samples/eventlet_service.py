"""A service on the eventlet executor: many slow calls served at once by green threads.

The process is monkey-patched first (before anything imports ``threading``), the server runs
with ``executor="eventlet"``, and ten calls that each wait half a second finish together in
about half a second instead of five.

    python samples/eventlet_service.py [--url URL]
"""

# Arguments are parsed before eventlet is imported, so that --help (and a clear message when
# eventlet is missing) need no eventlet. argparse and sys import no threading: the process
# is still unpatched when eventlet.monkey_patch() runs below.
import argparse
import sys


def _parse(argv: "list[str] | None") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="needs the eventlet extra: pip install 'rpcmsg[eventlet]'",
    )
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    return parser.parse_args(argv)


ARGS = _parse(None) if __name__ == "__main__" else None

import warnings  # noqa: E402

# Eventlet announces its own deprecation on import; this sample is for services still on it.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

try:
    import eventlet
except ImportError:
    print("eventlet_service.py needs eventlet: pip install 'rpcmsg[eventlet]'", file=sys.stderr)
    raise SystemExit(1) from None

eventlet.monkey_patch()

import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

from oslo_config import cfg  # noqa: E402

import rpcmsg  # noqa: E402

CALLS = 10
NAP = 0.5


class Api:
    def nap(self, ctxt: Any, seconds: float, n: int) -> int:
        time.sleep(seconds)  # a green sleep: other calls run meanwhile
        return n


def main(argv: "list[str] | None" = None) -> int:
    args = ARGS if argv is None and ARGS is not None else _parse(argv)

    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="eventlet-sample")
    topic = args.topic or f"green-{uuid.uuid4().hex[:8]}"
    transport = rpcmsg.get_rpc_transport(conf, url=args.url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="green-1"), [Api()], executor="eventlet"
    )
    server.start()
    try:
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=30)
        client.call({}, "nap", seconds=0, n=-1)  # warm up the connections
        started = time.monotonic()
        pool = eventlet.GreenPool()
        results = list(pool.imap(lambda n: client.call({}, "nap", seconds=NAP, n=n), range(CALLS)))
        elapsed = time.monotonic() - started
        print(f"{CALLS} calls of {NAP} s each answered in {elapsed:.2f} s on the eventlet executor")
        if results != list(range(CALLS)):
            print(f"unexpected results: {results}")
            return 1
        if elapsed > CALLS * NAP / 2:
            print("the calls did not run concurrently")
            return 1
        print("the green threads served them concurrently.")
        return 0
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
