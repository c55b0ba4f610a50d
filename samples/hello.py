"""Hello, rpcmsg: an RPC service and its client in one process.

Starts a server for the topic ``hello`` with one endpoint, then calls it (a call waits for
the result) and casts to it (a cast does not wait), and prints what happens.

    python samples/hello.py                                   # in-memory fake:// broker
    python samples/hello.py --url rabbit://guest:guest@127.0.0.1:5672/
    python samples/hello.py --url redis://127.0.0.1:6379/0

The same code runs on every driver: only the transport URL changes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from typing import Any

from oslo_config import cfg

import rpcmsg


class Greeter:
    """The service: each public method is an RPC method."""

    def __init__(self) -> None:
        self.casts = threading.Event()

    def hello(self, ctxt: dict[str, Any], name: str) -> str:
        return f"Hello, {name}!"

    def note(self, ctxt: dict[str, Any], text: str) -> None:
        print(f"  server got a cast: {text!r}")
        self.casts.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="fake://", help="transport URL (default: fake://)")
    parser.add_argument("--exchange", help="control_exchange (default: openstack)")
    parser.add_argument("--topic", help="topic to use (default: a fresh one)")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except rpcmsg.MessagingException as exc:  # no broker, bad URL, no driver: one clear line
        print(f"hello.py: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    if args.exchange:  # as a service sets its default exchange, before parsing its config
        rpcmsg.set_transport_defaults(control_exchange=args.exchange)
    conf = cfg.ConfigOpts()
    conf([], project="hello")
    # By default a topic of our own, so that two runs on one broker never meet.
    topic = args.topic or f"hello-{uuid.uuid4().hex[:8]}"
    transport = rpcmsg.get_rpc_transport(conf, url=args.url)
    greeter = Greeter()
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="greeter-1"), [greeter]
    )
    try:
        server.start()
        print(f"server listening on topic {topic!r} over {transport.url.transport}://")
        client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=10)

        answer = client.call({}, "hello", name="world")
        print(f"  client called hello(name='world') -> {answer!r}")

        client.cast({}, "note", text="casts do not wait for an answer")
        if not greeter.casts.wait(10):
            print("  the cast did not arrive within 10 s")
            return 1
        print("done: one call answered, one cast delivered.")
        return 0
    finally:
        server.stop()
        server.wait()
        transport.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
