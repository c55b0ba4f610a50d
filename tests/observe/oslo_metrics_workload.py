"""One workload with ``[oslo_messaging_metrics] metrics_enabled``, run by
``tests/observe/test_oslo_metrics.py`` under rpcmsg or under oslo.messaging (in its own
virtualenv): a server on TOPIC answering three ``echo`` calls and one failing call, then the
process waits until its metrics have been sent.

    python oslo_metrics_workload.py rpcmsg|oslo_messaging URL TOPIC SOCKET [LINGER [STOP]]

LINGER: seconds to wait before exiting (default 1.5); STOP: metrics_thread_stop_timeout
(default 1: oslo.messaging's sending thread holds the process's exit that long).
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any


class Endpoint:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def fail(self, ctxt: Any) -> None:
        raise ValueError("no")


def main() -> None:
    library, url, topic, socket_file = sys.argv[1:5]
    messaging: Any = importlib.import_module(library)
    from oslo_config import cfg

    # oslo.messaging registers [oslo_messaging_metrics] on the global configuration only
    # (and reads it at each call): services use cfg.CONF.
    conf = cfg.CONF
    conf([])
    conf.set_override("metrics_enabled", True, group="oslo_messaging_metrics")
    conf.set_override("metrics_socket_file", socket_file, group="oslo_messaging_metrics")
    conf.set_override("metrics_process_name", "svc", group="oslo_messaging_metrics")
    stop = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    conf.set_override("metrics_thread_stop_timeout", stop, group="oslo_messaging_metrics")
    transport = messaging.get_rpc_transport(conf, url)
    target = messaging.Target(topic=topic, server="s1")
    server = messaging.get_rpc_server(transport, target, [Endpoint()], executor="threading")
    server.start()
    client = messaging.get_rpc_client(transport, messaging.Target(topic=topic), timeout=30)
    for n in range(3):
        assert client.call({}, "echo", value=n) == n
    try:
        client.call({}, "fail")
    except Exception as exc:
        print("failed as expected:", type(exc).__name__, flush=True)
    print("done", flush=True)
    # The metrics leave from a thread of their own: give it time before exiting.
    time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 1.5)
    server.stop()
    server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
