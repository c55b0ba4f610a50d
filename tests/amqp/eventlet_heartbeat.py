"""An rpcmsg server and client on the eventlet executor in a monkey-patched process, idling
longer than the heartbeat timeout (tests/amqp/test_driver.py checks its connections live on).

Usage: ``eventlet_heartbeat.py URL EXCHANGE TOPIC``. Prints ``called``, idles 3.5 s, prints
``called again after idling``, then exits when stdin is closed.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402
import time  # noqa: E402

from oslo_config import cfg  # noqa: E402

import rpcmsg  # noqa: E402


class Api:
    def echo(self, ctxt, value):
        return value


def main() -> None:
    url, exchange, topic = sys.argv[1:4]
    conf = cfg.ConfigOpts()
    conf([])
    rpcmsg.set_transport_defaults(exchange)
    transport = rpcmsg.get_rpc_transport(conf, url)
    server = rpcmsg.get_rpc_server(
        transport, rpcmsg.Target(topic=topic, server="s"), [Api()], executor="eventlet"
    )
    server.start()
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=10)
    assert client.call({}, "echo", value=1) == 1
    print("called", flush=True)
    time.sleep(3.5)  # green: the heartbeat threads run meanwhile
    assert client.call({}, "echo", value=2) == 2
    print("called again after idling", flush=True)
    sys.stdin.read()
    server.stop()
    server.wait()
    transport.cleanup()


if __name__ == "__main__":
    main()
