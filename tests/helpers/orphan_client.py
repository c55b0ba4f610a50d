"""A process that owns a reply queue and a fanout queue, for tests that kill it.

Usage: python -m tests.helpers.orphan_client URL EXCHANGE OWN_TOPIC CALLED_TOPIC
Starts a server on OWN_TOPIC (so a fanout queue of its own), then calls ``slow`` on
CALLED_TOPIC from a thread; prints "REPLY <reply address>" first. Runs until killed.
"""

from __future__ import annotations

import sys
import threading

from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts


class Endpoint:
    def ping(self, ctxt: object) -> str:
        return "pong"


def main() -> None:
    url, exchange, own, called = sys.argv[1:5]
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    transport = rpcmsg.get_rpc_transport(conf, url)
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=own, server="o"), [Endpoint()])
    server.start()
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=called), timeout=60)
    print("REPLY", transport._replies.address, flush=True)
    threading.Thread(target=lambda: client.call({}, "slow"), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
