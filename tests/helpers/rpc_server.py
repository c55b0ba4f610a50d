"""An RPC server in a process of its own, for tests that kill it.

Usage: python -m tests.helpers.rpc_server URL EXCHANGE TOPIC
Prints "READY" once serving; runs until stdin is closed (or the process is killed). Methods:
``pid()`` returns the process id; ``sleep(seconds)`` prints "SLEEPING" and sleeps.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts


class Endpoint:
    def pid(self, ctxt: Any) -> int:
        return os.getpid()

    def sleep(self, ctxt: Any, seconds: float) -> str:
        print("SLEEPING", flush=True)
        time.sleep(seconds)
        return "woke"


def main() -> None:
    url, exchange, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    transport = rpcmsg.get_rpc_transport(conf, url)
    target = rpcmsg.Target(topic=topic, server="child")
    server = rpcmsg.get_rpc_server(transport, target, [Endpoint()])
    server.start()
    print("READY", flush=True)
    sys.stdin.read()
    server.stop()
    server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
