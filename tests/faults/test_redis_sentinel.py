"""A Redis Sentinel failover mid-stream: the replica promoted while calls, casts and
notifications stream through ``redis+sentinel://``.

The test starts its own Redis primary, a replica of it and three Sentinels (quorum 2) on free
local ports, and runs rpcmsg with a URL listing the three Sentinels. Two ways to lose the
primary:

* ``failover``: ``SENTINEL FAILOVER``, as an operator would; the old primary becomes a
  replica of the new one.
* ``primary-killed``: the primary is SIGKILLed; the Sentinels see it down (after 1 s), agree
  and promote the replica.

Asserted as everywhere in the fault suite: traffic flows again by itself, every call ends
with its result or ``MessagingTimeout`` within its timeout plus ``SLACK``, no reply is
crossed, no sender hangs. Redis replicates asynchronously, and the driver does not wait for
replicas (no ``WAIT``): a cast or notification the old primary acknowledged and had not yet
passed to the replica is lost with it, and so are those written to the old primary between
the promotion and its demotion. So losses are measured and written down, not asserted to be
0; what is asserted is that every lost message was accepted around the failover (from
``WINDOW`` seconds before it began until traffic flowed again), never before or after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import rpcmsg
from tests.drivers import SPECS, DriverEnv
from tests.faults import figures
from tests.faults.failover import check, through_fault
from tests.faults.workload import Sink, wait_until
from tests.helpers.processes import free_port, need, server_process

pytestmark = pytest.mark.faults

TIMEOUT = 2.0  # each call's timeout
RECOVERY = 30.0  # seconds for traffic to flow again after the primary is lost
DRAIN = 30.0
WINDOW = 1.0  # seconds before the failover in which accepted messages may be lost
SERVICE = "rpcmsg-failover"
FAST_RECOVERY = (
    "socket_timeout=1.5&socket_connect_timeout=1&retry_interval=0.1&retry_interval_max=1"
)


@dataclasses.dataclass
class Deployment:
    """The Redis processes: the primary's and replica's ports and processes, Sentinels."""

    primary: int
    replica: int
    sentinels: list[int]
    procs: dict[int, subprocess.Popen[bytes]]

    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{hosts}/0?sentinel_service_name={SERVICE}&{FAST_RECOVERY}"

    def sentinel(self, n: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinels[n], socket_timeout=5)

    def master_port(self) -> int:
        _, port = self.sentinel().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)


def _ready(dep: Deployment) -> bool:
    try:
        info = redis.Redis(port=dep.replica, socket_timeout=1).info("replication")
        if info.get("master_link_status") != "up":
            return False
        for n in range(len(dep.sentinels)):
            master = dep.sentinel(n).sentinel_master(SERVICE)
            if master["num-slaves"] < 1 or master["num-other-sentinels"] < 2:
                return False
        return True
    except redis.RedisError:
        return False


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    binary = need("redis-server")
    primary, replica = free_port(), free_port()
    sentinels = [free_port() for _ in range(3)]
    plain = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with contextlib.ExitStack() as stack:
        procs: dict[int, subprocess.Popen[bytes]] = {}
        for port, extra in ((primary, []), (replica, ["--replicaof", "127.0.0.1", str(primary)])):
            where = tmp_path / str(port)
            where.mkdir()
            args = [binary, "--port", str(port), "--dir", str(where), *plain, *extra]
            procs[port] = stack.enter_context(server_process(args, port, f"Redis on {port}"))
        for port in sentinels:
            conf = tmp_path / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
            )
            args = [binary, str(conf), "--sentinel"]
            procs[port] = stack.enter_context(server_process(args, port, f"Sentinel on {port}"))
        dep = Deployment(primary, replica, sentinels, procs)
        assert wait_until(lambda: _ready(dep), 30), "the replica and Sentinels did not settle"
        yield dep


@pytest.fixture
def sentinel_env() -> Iterator[DriverEnv]:
    # No purge: the keys die with the test's Redis processes.
    env = DriverEnv(dataclasses.replace(SPECS["redis"], purge=None))
    yield env
    env.close()


def _role(port: int) -> str:
    try:
        return str(redis.Redis(port=port, socket_timeout=1).info("replication")["role"])
    except redis.RedisError:
        return "down"


def _failover(dep: Deployment) -> None:
    # The command only starts it. The Sentinels promote the replica at once but demote the
    # old primary (which keeps taking writes meanwhile) only once they see it up again as a
    # master: the fault lasts until it is a replica.
    dep.sentinel().execute_command("SENTINEL", "FAILOVER", SERVICE)
    assert wait_until(lambda: dep.master_port() == dep.replica, 20), "no promotion"
    assert wait_until(lambda: _role(dep.primary) == "slave", 30), "the old primary stayed"


def _kill_primary(dep: Deployment) -> None:
    proc = dep.procs[dep.primary]
    proc.kill()
    proc.wait(10)


FAULTS = {"failover": _failover, "primary-killed": _kill_primary}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sentinel_failover_mid_stream(
    deployment: Deployment, sentinel_env: DriverEnv, fault: str
) -> None:
    env, dep = sentinel_env, deployment
    env.url = dep.url()
    sink = Sink()
    topic, notify_topic = env.unique(), env.unique("notify")
    env.server(topic, [sink])
    listener = rpcmsg.get_notification_listener(
        env.notification_transport(), [rpcmsg.Target(topic=notify_topic)], [sink]
    )
    listener.start()
    env.track(listener)
    client = env.client(topic, timeout=TIMEOUT)
    notifier = rpcmsg.Notifier(
        env.notification_transport(),
        publisher_id="faults",
        driver="messagingv2",
        topics=[notify_topic],
        raise_on_failure=True,
    )
    assert dep.master_port() == dep.primary

    outcome = through_fault(
        client, notifier, sink, TIMEOUT, lambda: FAULTS[fault](dep), RECOVERY, DRAIN
    )
    promoted = dep.master_port()
    window = (outcome.fault_at - WINDOW, outcome.recovered_at)
    figures.record(
        "sentinel",
        "redis",
        fault,
        {
            **outcome.figures(),
            "lost_outside_failover": sum(
                1 for t in outcome.lost_at if not window[0] <= t <= window[1]
            ),
        },
    )
    assert promoted == dep.replica, "the Sentinels did not promote the replica"
    new_primary = redis.Redis(port=dep.replica, socket_timeout=5)
    assert new_primary.info("replication")["role"] == "master"
    names = [c.get("name", "") for c in new_primary.client_list()]
    # The clients, servers and listeners moved there (listeners, publishers, reply readers).
    assert sum(1 for name in names if name.startswith("rpcmsg:")) >= 4, names
    check(outcome, RECOVERY, lossless=False)
    outside = [round(t - outcome.fault_at, 3) for t in outcome.lost_at]
    assert all(window[0] <= t <= window[1] for t in outcome.lost_at), (
        f"messages lost that were accepted outside the failover (s after it began): {outside}"
    )
