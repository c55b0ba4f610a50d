"""Connection faults without a broker restart, on RabbitMQ and Redis, for clients and servers.

A ``FaultProxy`` stands between one side (the clients' transport, or the servers') and the
real broker while calls, casts and notifications stream; the other side talks to the broker
directly. The link is dropped, reset, blackholed or slowed (both ways, or one way only: up,
client to broker, or down) or left half open (one side closed,
the other peer's socket open and silent) in the middle of the stream, then healed. Each test
asserts the three promises of the fault suite:

* recovery by themselves: traffic started after the fault cleared flows again (a call
  answered, a cast and a notification handled) within ``RECOVERY`` seconds, on the same
  transports, servers and listeners;
* deadlines: every call ended with its result or ``MessagingTimeout`` within its timeout
  plus ``SLACK``, none hung, none got another call's reply;
* nothing lost: every cast and notification that was accepted (the send returned) was
  handled; duplicates are counted and printed (both drivers are at least once for them).

The drivers are tuned to notice a dead link quickly (AMQP heartbeats of 2 s, a Redis socket
timeout of 1.5 s) and to reconnect without long backoff, as a deployment that wants fast
recovery would; the promises do not depend on the tuning, the test's duration does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rpcmsg
from tests.drivers import DriverEnv, make_env
from tests.faults import figures
from tests.faults.proxy import FaultProxy
from tests.faults.workload import SLACK, Sink, Tally, Traffic, wait_until

pytestmark = pytest.mark.faults

TIMEOUT = 2.0  # each call's timeout
RECOVERY = 15.0  # seconds for traffic to flow again once the fault is cleared
DRAIN = 20.0  # seconds for accepted casts and notifications to be handled at the end

BROKER_PORTS = {"rabbit": 5672, "redis": 6379}
#: URL query options (overriding the configuration for the transport).
FAST_RECOVERY = {
    "rabbit": "heartbeat_timeout_threshold=2&rabbit_retry_interval=1"
    "&rabbit_retry_backoff=0&rabbit_interval_max=1&kombu_reconnect_delay=0",
    "redis": "socket_timeout=1.5&socket_connect_timeout=1&retry_interval=0.1&retry_interval_max=1",
}


def tuned(url: str) -> str:
    """``url`` with the fast-recovery options of its driver."""
    scheme = "redis" if url.startswith("redis") else "rabbit"
    return f"{url}{'&' if '?' in url else '?'}{FAST_RECOVERY[scheme]}"


def _cut(how: str) -> Callable[[FaultProxy], None]:
    """Three cuts half a second apart, so they hit the link in different states."""

    def fault(proxy: FaultProxy) -> None:
        for _ in range(3):
            getattr(proxy, how)()
            time.sleep(0.5)

    return fault


def _stall(proxy: FaultProxy) -> None:
    # Longer than the heartbeat / socket timeout: the peers must see the link dead, and the
    # new connections they open are blackholed too until the heal.
    proxy.stall()
    time.sleep(4.0)


def _slow(direction: str = "both") -> Callable[[FaultProxy], None]:
    """Each chunk 0.3 s late and at most 200 kB/s, both ways or one way only: requests and
    publishes (up) or deliveries, replies and confirms (down)."""

    def fault(proxy: FaultProxy) -> None:
        proxy.slow(latency=0.3, bandwidth=200_000, direction=direction)
        time.sleep(3.0)

    return fault


def _stall_one_way(direction: str) -> Callable[[FaultProxy], None]:
    """A blackhole one way only: the peer whose bytes still flow keeps sending (its
    heartbeats reach the other side) and hears nothing back, or the reverse."""

    def fault(proxy: FaultProxy) -> None:
        proxy.stall(direction)
        time.sleep(4.0)

    return fault


def _half_open(side: str) -> Callable[[FaultProxy], None]:
    """Close one side only: the other peer's socket stays open and silent (a NAT or firewall
    that forgot the connection); it must find out by itself (heartbeats, socket timeouts)."""

    def fault(proxy: FaultProxy) -> None:
        proxy.drop(side)
        time.sleep(1.0)

    return fault


FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "drop": _cut("drop"),
    "reset": _cut("reset"),
    # rpcmsg sees its connection closed, the broker does not (and the reverse).
    "half-open-rpcmsg-closed": _half_open("client"),
    "half-open-broker-closed": _half_open("broker"),
    "stall": _stall,
    "stall-up": _stall_one_way("up"),
    "stall-down": _stall_one_way("down"),
    "slow": _slow(),
    "slow-up": _slow("up"),
    "slow-down": _slow("down"),
}


class Rig:
    """A server and a notification listener, a client and a notifier, one side proxied."""

    def __init__(self, env: DriverEnv, proxy: FaultProxy, side: str) -> None:
        self.env = env
        self.sink = Sink()
        conf = env.conf()
        proxied, direct = tuned(proxy.url(env.url)), tuned(env.url)
        server_url, client_url = (proxied, direct) if side == "server" else (direct, proxied)
        topic, notify_topic = env.unique(), env.unique("notify")
        self.transports: list[Any] = []

        server_transport = self._keep(rpcmsg.get_rpc_transport(conf, server_url))
        env.track(
            rpcmsg.get_rpc_server(
                server_transport, rpcmsg.Target(topic=topic, server="s1"), [self.sink]
            )
        ).start()
        listen_transport = self._keep(rpcmsg.get_notification_transport(conf, server_url))
        env.track(
            rpcmsg.get_notification_listener(
                listen_transport, [rpcmsg.Target(topic=notify_topic)], [self.sink]
            )
        ).start()

        client_transport = self._keep(rpcmsg.get_rpc_transport(conf, client_url))
        self.client = rpcmsg.get_rpc_client(
            client_transport, rpcmsg.Target(topic=topic), timeout=TIMEOUT
        )
        notify_transport = self._keep(rpcmsg.get_notification_transport(conf, client_url))
        self.notifier = rpcmsg.Notifier(
            notify_transport,
            publisher_id="faults",
            driver="messagingv2",
            topics=[notify_topic],
            raise_on_failure=True,
        )

    def _keep(self, transport: Any) -> Any:
        self.env._transports.append(transport)
        return transport


@pytest.fixture(params=["rabbit", "redis"])
def driver_env(request: pytest.FixtureRequest) -> Iterator[DriverEnv]:
    env = make_env(request.param)
    yield env
    env.close()


def run_fault(env: DriverEnv, side: str, fault: str) -> Tally:
    """Stream traffic, apply ``fault`` on ``side``, heal, check recovery; the figures."""
    with FaultProxy(BROKER_PORTS[env.name]) as proxy:
        rig = Rig(env, proxy, side)
        # The servers are consuming before the stream starts: casts and notifications
        # sent to a queue nobody declared yet would be dropped by design, not by a fault.
        assert rig.client.call({}, "echo", value="ready") == "ready"
        traffic = Traffic(rig.client, rig.notifier, TIMEOUT).start()
        try:
            assert wait_until(lambda: traffic.flowing_since(rig.sink, 0.0), 10), "no traffic"
            FAULTS[fault](proxy)
            proxy.heal()
            healed = time.monotonic()
            recovered = wait_until(lambda: traffic.flowing_since(rig.sink, healed), RECOVERY)
            recovery = round(time.monotonic() - healed, 2)
            time.sleep(0.5)  # a little more traffic on the recovered link
        finally:
            stuck = traffic.stop(TIMEOUT + SLACK + 5)
        wait_until(lambda: Tally.of(traffic, rig.sink).all_handled(), DRAIN)
        tally = Tally.of(traffic, rig.sink)
        figures.record(
            "connection",
            env.name,
            f"{side}-{fault}",
            {
                **tally.__dict__,
                "recovery_s": recovery if recovered else None,
                "stuck": stuck,
                "proxied_connections": proxy.accepted,
            },
        )
    assert recovered, f"traffic did not flow again within {RECOVERY}s of the heal"
    assert not stuck, f"senders still blocked after the stop: {stuck}"
    assert tally.outcomes.get("crossed", 0) == 0, "a call got another call's reply"
    others = {k: n for k, n in tally.outcomes.items() if k not in ("ok", "timeout", "crossed")}
    assert not others, f"calls ended with errors other than MessagingTimeout: {others}"
    assert tally.overruns == 0, f"{tally.overruns} calls overran their deadline"
    assert tally.casts_lost == 0, f"{tally.casts_lost} of {tally.casts_sent} casts lost"
    assert tally.notes_lost == 0, f"{tally.notes_lost} of {tally.notes_sent} notes lost"
    return tally


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("side", ["client", "server"])
def test_connection_fault(driver_env: DriverEnv, side: str, fault: str) -> None:
    run_fault(driver_env, side, fault)
