"""Publishes notifications from a process of its own, for the cross-process tests.

Usage: python -m tests.helpers.notify_emitter URL EXCHANGE TOPIC COUNT
Sends COUNT info notifications (payload {"n": i}, event type "xproc.event", context
{"sender_pid": <pid>}) with the messagingv2 driver, then prints "SENT COUNT".
"""

from __future__ import annotations

import os
import sys

from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts
from tests.helpers.context import RequestContext


def main() -> None:
    url, exchange, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    transport = rpcmsg.get_notification_transport(conf, url)
    notifier = rpcmsg.Notifier(
        transport, "emitter", driver="messagingv2", topics=[topic], raise_on_failure=True
    )
    for i in range(count):
        notifier.info(RequestContext(sender_pid=os.getpid()), "xproc.event", {"n": i})
    transport.cleanup()
    print(f"SENT {count}", flush=True)


if __name__ == "__main__":
    main()
