"""A node lost from a three-node RabbitMQ cluster with quorum queues, mid-stream.

The test set-up starts three RabbitMQ nodes of its own on this machine (names and ports of
their own, started in parallel, joined with ``rabbitmqctl join_cluster``;
tests/helpers/rabbit_node.py) and runs rpcmsg with ``rabbit_quorum_queue = true`` and a
transport URL listing the three nodes. The queues are declared through node B, so their
leaders are on B (RabbitMQ places a quorum queue's leader on the declaring client's node);
the clients and servers then connect to node A. While calls, casts and notifications stream,
a node is killed (SIGKILL, as in a crash):

* ``connected``: A, the node every client and server is connected to. Their connections
  break and they fail over to B or C; the queues' leaders are not touched.
* ``leader``: B, the node leading every queue. No connection breaks; the queues elect new
  leaders on A or C.

The promises asserted, as in the rest of the fault suite: traffic flows again by itself;
every call ends with its result or ``MessagingTimeout`` within its timeout plus ``SLACK``; no
accepted cast or notification is lost. Duplicates (a message resent after its confirm was
lost with the connection) are counted and written down, not asserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import rpcmsg
from tests.drivers import SPECS, DriverEnv
from tests.faults import figures
from tests.faults.failover import check, through_fault
from tests.faults.workload import Sink
from tests.helpers.rabbit_node import RabbitNode, cluster_url, join_cluster, rabbit_nodes

pytestmark = pytest.mark.faults

TIMEOUT = 2.0  # each call's timeout
RECOVERY = 30.0  # seconds for traffic to flow again after the node is lost
DRAIN = 30.0  # seconds for accepted casts and notifications to be handled at the end
#: Quorum queues, and fast failure detection and reconnection (as in the proxy tests).
OPTIONS = (
    "rabbit_quorum_queue=true&heartbeat_timeout_threshold=2&rabbit_retry_interval=1"
    "&rabbit_retry_backoff=0&rabbit_interval_max=1&kombu_reconnect_delay=0"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RabbitNode]]:
    with rabbit_nodes(tmp_path_factory.mktemp("rabbit-cluster"), "rpcmsg-cluster", 3) as nodes:
        join_cluster(nodes)
        yield nodes


def url(nodes: list[RabbitNode]) -> str:
    return f"{cluster_url(nodes)}?{OPTIONS}"


class Rig:
    """A server and a notification listener, a client and a notifier, all connected to the
    first node of ``order``; their queues declared through ``declare_on`` first."""

    def __init__(self, env: ClusterEnv, order: list[RabbitNode], declare_on: RabbitNode) -> None:
        self.env = env
        self.sink = Sink()
        self.topic, self.notify_topic = env.unique(), env.unique("notify")
        conf = env.conf()
        # The queues (quorum, durable) declared through ``declare_on``: their leader is there.
        declaring = rpcmsg.get_rpc_transport(conf, url([declare_on, *order]))
        notify_declaring = rpcmsg.get_notification_transport(conf, url([declare_on, *order]))
        try:
            for server in self._start(declaring, notify_declaring, Sink()):
                server.stop()
                server.wait()
        finally:
            declaring.cleanup()
            notify_declaring.cleanup()
        main_url = url(order)
        rpc = env._keep(rpcmsg.get_rpc_transport(conf, main_url))
        notify = env._keep(rpcmsg.get_notification_transport(conf, main_url))
        for server in self._start(rpc, notify, self.sink):
            env.track(server)
        self.client = rpcmsg.get_rpc_client(rpc, rpcmsg.Target(topic=self.topic), timeout=TIMEOUT)
        self.notifier = rpcmsg.Notifier(
            notify,
            publisher_id="faults",
            driver="messagingv2",
            topics=[self.notify_topic],
            raise_on_failure=True,
        )

    def _start(self, rpc: Any, notify: Any, sink: Sink) -> list[Any]:
        target = rpcmsg.Target(topic=self.topic, server="s1")
        server = rpcmsg.get_rpc_server(rpc, target, [sink])
        listener = rpcmsg.get_notification_listener(
            notify, [rpcmsg.Target(topic=self.notify_topic)], [sink]
        )
        server.start()
        listener.start()
        return [server, listener]

    def queues(self) -> list[str]:
        return [self.topic, f"{self.topic}.s1", f"{self.notify_topic}.info"]


def leaders(node: RabbitNode, names: list[str]) -> dict[str, str]:
    out = node.ctl("list_queues", "name", "type", "leader", "-q", "--no-table-headers")
    rows = [line.split("\t") for line in out.strip().splitlines()]
    found = {row[0]: f"{row[1]} on {row[2]}" for row in rows if len(row) >= 3}
    return {name: found.get(name, "missing") for name in names}


def connections(node: RabbitNode) -> dict[int, int]:
    """How many client connections the cluster has, per node's AMQP port."""
    out = node.ctl("list_connections", "port", "-q", "--no-table-headers")
    ports = [int(line) for line in out.split()]
    return {port: ports.count(port) for port in set(ports)}


class ClusterEnv(DriverEnv):
    """A rabbit driver environment for transports to the test's cluster."""

    def __init__(self) -> None:
        super().__init__(SPECS["rabbit"])

    def _keep(self, transport: Any) -> Any:
        self._transports.append(transport)
        return transport


@pytest.fixture
def cluster_env() -> Iterator[ClusterEnv]:
    env = ClusterEnv()
    yield env
    env.close()


@pytest.mark.parametrize("lost", ["connected", "leader"])
def test_a_node_lost_mid_stream(
    cluster: list[RabbitNode], cluster_env: ClusterEnv, lost: str
) -> None:
    a, b, c = cluster
    rig = Rig(cluster_env, [a, b, c], declare_on=b)
    where = leaders(a, rig.queues())
    assert all(v == f"quorum on {b.name}" for v in where.values()), where
    assert rig.client.call({}, "echo", value="connect") == "connect"
    rig.notifier.info({}, "fault.test", {"uid": "connect"})
    connected = connections(a)  # the server-side port tells the node
    assert connected.get(a.port, 0) >= 4 and set(connected) == {a.port}, connected
    victim = a if lost == "connected" else b
    try:
        outcome = through_fault(
            rig.client, rig.notifier, rig.sink, TIMEOUT, victim.kill, RECOVERY, DRAIN
        )
        after = leaders(c, rig.queues())
    finally:
        victim.start()  # the next test gets three nodes again
    figures.record(
        "cluster",
        "rabbit",
        f"node-lost-{lost}",
        {**outcome.figures(), "leaders_after": sorted(set(after.values()))},
    )
    victim.wait_started()
    check(outcome, RECOVERY)
    if lost == "leader":
        assert all(victim.name not in v for v in after.values()), after
