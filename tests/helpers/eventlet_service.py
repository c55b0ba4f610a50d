"""Runs an RPC server on the eventlet executor in a monkey-patched process; prints a verdict.

Used by tests/unit/test_executors.py (eventlet must be patched before anything else imports
threading, hence a process of its own).
"""

import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from oslo_config import cfg  # noqa: E402

import rpcmsg  # noqa: E402


class Api:
    def nap(self, ctxt, seconds):
        time.sleep(seconds)  # green under monkey patching
        return "rested"


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "fake:///eventlet"
    conf = cfg.ConfigOpts()
    conf([])
    transport = rpcmsg.get_rpc_transport(conf, url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic="green", server="s"), [Api()], executor="eventlet"
    )
    server.start()
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic="green"), timeout=10)
    started = time.monotonic()
    pool = eventlet.GreenPool()
    results = list(pool.imap(lambda _: client.call({}, "nap", seconds=0.3), range(5)))
    elapsed = time.monotonic() - started
    monitored = client.prepare(call_monitor_timeout=0.2).call({}, "nap", seconds=0.6)
    server.stop()
    server.wait()
    transport.cleanup()
    print(json.dumps({"results": results, "elapsed": elapsed, "monitored": monitored}))


if __name__ == "__main__":
    main()
