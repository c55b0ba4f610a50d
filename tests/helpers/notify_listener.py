"""A notification listener whose endpoint never returns, killed by the test that starts it.

Usage: python -m tests.helpers.notify_listener URL EXCHANGE TOPIC
Prints "READY" once consuming, then "TAKEN <payload as JSON>" when its endpoint gets a
notification; the endpoint then blocks until the process is killed, so the message is never
acknowledged.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts


class Stuck:
    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        print(f"TAKEN {json.dumps(payload)}", flush=True)
        threading.Event().wait()


def main() -> None:
    url, exchange, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", exchange)
    transport = rpcmsg.get_notification_transport(conf, url)
    listener = rpcmsg.get_notification_listener(transport, [rpcmsg.Target(topic=topic)], [Stuck()])
    listener.start()
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
