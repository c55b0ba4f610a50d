"""RabbitMQ driver behaviour beyond the conformance suite: failover, reconnection, heartbeats,
expiration, options, compression. Everything runs against the real broker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from rpcmsg import _wire
from rpcmsg.driver.base import DEADLINE_SLACK
from tests.amqp import admin
from tests.drivers import DriverEnv

WAIT = 10.0
DEAD = "guest:guest@127.0.0.1:1"  # nothing listens there: connection refused at once
LIVE = "guest:guest@127.0.0.1:5672"
EVENTLET_HELPER = Path(__file__).resolve().parent / "eventlet_heartbeat.py"


class Echo:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.cond = threading.Condition()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def record(self, ctxt: Any, value: Any) -> None:
        with self.cond:
            self.seen.append(value)
            self.cond.notify_all()

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def wait_for(self, predicate: Any, timeout: float = WAIT) -> bool:
        with self.cond:
            return bool(self.cond.wait_for(lambda: predicate(self.seen), timeout))


def transport(env: DriverEnv, url: str) -> rpcmsg.Transport:
    t = rpcmsg.get_rpc_transport(env.conf(), url)
    env._transports.append(t)
    return t


@pytest.mark.parametrize("strategy", ["round-robin", "shuffle"])
def test_fails_over_to_the_next_host(rabbit: DriverEnv, strategy: str) -> None:
    url = f"rabbit://{DEAD},{LIVE},{DEAD}/?kombu_failover_strategy={strategy}"
    topic = rabbit.unique()
    rabbit.server(topic, [Echo()], transport=transport(rabbit, url))
    client = rabbit.client(topic, timeout=WAIT, transport=transport(rabbit, url))
    assert client.call({}, "echo", value="over") == "over"


def test_call_to_unreachable_broker_times_out(rabbit: DriverEnv) -> None:
    url = f"rabbit://{DEAD}/?rabbit_retry_interval=1"
    client = rabbit.client(rabbit.unique(), timeout=1.5, transport=transport(rabbit, url))
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 4


def test_cast_without_retry_to_unreachable_broker_fails_fast(rabbit: DriverEnv) -> None:
    client = rabbit.client(
        rabbit.unique(), retry=0, transport=transport(rabbit, f"rabbit://{DEAD}/")
    )
    started = time.monotonic()
    with pytest.raises(rpcmsg.ClientSendError) as info:
        client.cast({}, "echo", value=1)
    assert isinstance(info.value.ex, rpcmsg.MessagingException)  # no py-amqp error leaks
    assert time.monotonic() - started < 3


def test_a_call_does_not_wait_for_casts_holding_every_connection(
    rabbit: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """During an outage a cast retrying holds the only publishing connection: a call must
    still end within its timeout instead of waiting for the connection."""
    url = (
        f"rabbit://{DEAD}/?rpc_conn_pool_size=1&conn_pool_min_size=1"
        "&rabbit_retry_interval=1&rabbit_retry_backoff=0"
    )
    sender = rpcmsg.get_rpc_transport(rabbit.conf(), url)
    rabbit._transports.append(sender)
    topic = rabbit.unique()
    outcome: list[BaseException] = []

    def cast() -> None:
        try:
            rabbit.client(topic, retry=3, transport=sender).cast({}, "record", value=1)
        except rpcmsg.MessagingException as exc:
            outcome.append(exc)

    casting = threading.Thread(target=cast, daemon=True)
    casting.start()
    deadline = time.monotonic() + WAIT
    while "unreachable" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)  # until the cast holds the connection, retrying
    assert "unreachable" in caplog.text
    client = rabbit.client(topic, timeout=1.0, transport=sender)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK
    casting.join(WAIT)
    assert outcome and isinstance(outcome[0], rpcmsg.ClientSendError)  # it did retry, then gave up


def test_server_on_unreachable_broker_cannot_listen(rabbit: DriverEnv) -> None:
    server = rpcmsg.get_rpc_server(
        transport(rabbit, f"rabbit://{DEAD}/"), rpcmsg.Target(topic="t", server="s"), [Echo()]
    )
    with pytest.raises(rpcmsg.ServerListenError):
        server.start()


def test_connections_closed_by_the_broker_are_reopened(rabbit: DriverEnv, rabbitmqctl: str) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint])
    client = rabbit.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value="before") == "before"
    client.cast({}, "record", value="before")
    assert endpoint.wait_for(lambda seen: "before" in seen)
    names = admin.connections_of()
    assert len(names) >= 3  # publisher, listener, replies
    admin.close_connections(names)
    # The listener consumes again, the reply queue is consumed again, the publisher reconnects.
    client.cast({}, "record", value="after")
    assert endpoint.wait_for(lambda seen: "after" in seen)
    assert client.call({}, "echo", value="after") == "after"
    assert not names & admin.connections_of()


def test_heartbeats_keep_idle_connections_open(rabbit: DriverEnv, rabbitmqctl: str) -> None:
    url = f"{rabbit.url}?heartbeat_timeout_threshold=1&heartbeat_rate=2"
    topic = rabbit.unique()
    rabbit.server(topic, [Echo()], transport=transport(rabbit, url))
    client = rabbit.client(topic, timeout=WAIT, transport=transport(rabbit, url))
    assert client.call({}, "echo", value=1) == 1
    before = admin.connections_of()
    time.sleep(3.5)  # idle: without heartbeats the broker closes them after 2 s
    assert client.call({}, "echo", value=2) == 2
    assert before and before <= admin.connections_of()


def test_heartbeats_under_eventlet(rabbit: DriverEnv, rabbitmqctl: str) -> None:
    url = f"{rabbit.url}?heartbeat_timeout_threshold=1&heartbeat_rate=2"
    proc = subprocess.Popen(
        [sys.executable, str(EVENTLET_HELPER), url, rabbit.exchange, rabbit.unique()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "called"
        before = admin.connections_of(proc.pid)
        assert proc.stdout.readline().strip() == "called again after idling"
        assert before and before <= admin.connections_of(proc.pid)
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_expired_call_request_is_not_run(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    server = rpcmsg.get_rpc_server(
        rabbit.transport(), rpcmsg.Target(topic=topic, server="s"), [endpoint]
    )
    rabbit.track(server)
    server.start()  # declares the queue
    server.stop()
    server.wait()
    client = rabbit.client(topic)
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.prepare(timeout=0.3).call({}, "record", value="expired")
    client.cast({}, "record", value="marker")
    time.sleep(0.3)  # the call request's 0.3 s are over before the server is back
    server.start()
    assert endpoint.wait_for(lambda seen: "marker" in seen)
    assert endpoint.seen == ["marker"]


def test_reply_to_a_gone_caller_does_not_block_the_server(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    server = rabbit.server(topic, [Echo()])
    gone = rabbit.transport()
    with pytest.raises(rpcmsg.MessagingTimeout):
        rabbit.client(topic, timeout=0.2, transport=gone).call({}, "sleep", seconds=0.5)
    gone.cleanup()  # its reply queue is deleted while the server still works on the call
    client = rabbit.client(topic, timeout=WAIT)
    time.sleep(0.5)
    for i in range(3):
        assert client.call({}, "echo", value=i) == i
    assert server is not None


def test_duplicate_deliveries_run_once(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint])
    t = rabbit.transport()
    body = _wire.encode(
        {"method": "record", "args": {"value": "once"}, "_unique_id": _wire.new_id()}
    )
    target = rpcmsg.Target(topic=topic, exchange=rabbit.exchange)
    t.driver.send(target, body)
    t.driver.send(target, body)
    rabbit.client(topic, transport=t).cast({}, "record", value="end")
    assert endpoint.wait_for(lambda seen: "end" in seen)
    assert sorted(endpoint.seen) == ["end", "once"]


def test_url_query_selects_durable_and_quorum_queues(rabbit: DriverEnv, rabbitmqctl: str) -> None:
    topic = rabbit.unique()
    url = f"{rabbit.url}?rabbit_quorum_queue=true"
    rabbit.server(topic, [Echo()], transport=transport(rabbit, url))
    info = admin.queue_info(topic)
    assert info is not None
    assert info["durable"] is True and info["type"] == "quorum"


def test_invalid_option_value_in_url_is_reported(rabbit: DriverEnv) -> None:
    with pytest.raises(rpcmsg.InvalidTransportURL, match="heartbeat_rate"):
        rpcmsg.get_rpc_transport(rabbit.conf(), f"{rabbit.url}?heartbeat_rate=often")


def test_compressed_bodies_on_the_wire(rabbit: DriverEnv) -> None:
    topic = rabbit.unique()
    t = transport(rabbit, f"{rabbit.url}?kombu_compression=gzip")
    notifier = rpcmsg.Notifier(t, driver="messagingv2", publisher_id="p", topics=[topic])
    notifier.info({}, "zipped", {"data": "x" * 1000})
    with admin.channel() as ch:
        raw = ch.basic_get(f"{topic}.info", no_ack=True)
        ch.queue_delete(f"{topic}.info")
    assert raw is not None
    assert raw.headers["compression"] == "application/x-gzip"
    assert len(raw.body) < 500
    message = _wire.decode(zlib.decompress(raw.body))
    assert message["event_type"] == "zipped"


@pytest.mark.parametrize("window", [256, 0])
def test_casts_in_flight_are_confirmed_before_cleanup_returns(
    rabbit: DriverEnv, window: int
) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint])
    sender = rpcmsg.get_rpc_transport(rabbit.conf(), f"{rabbit.url}?rabbit_confirm_window={window}")
    client = rabbit.client(topic, transport=sender)
    for i in range(500):
        client.cast({}, "record", value=i)
    sender.cleanup()  # waits for the broker's confirms of what is still in flight
    assert endpoint.wait_for(lambda seen: len(seen) >= 500)
    assert sorted(endpoint.seen) == list(range(500))


def test_prefetch_limit_still_lets_every_cast_through(rabbit: DriverEnv) -> None:
    """With rabbit_qos_prefetch_count the broker waits for acknowledgements before it
    delivers more: they must go out promptly, not with the consumer's next idle wake-up."""
    url = f"{rabbit.url}?rabbit_qos_prefetch_count=1"
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint], transport=transport(rabbit, url))
    client = rabbit.client(topic)
    started = time.monotonic()
    for i in range(50):
        client.cast({}, "record", value=i)
    assert endpoint.wait_for(lambda seen: len(seen) >= 50)
    assert sorted(endpoint.seen) == list(range(50))
    assert time.monotonic() - started < 5
