"""Wire compatibility with oslo.messaging, both ways, through a real RabbitMQ.

oslo.messaging runs in its own processes (``tests/interop/oslo_peer.py`` under
``RPCMSG_OSLO_PYTHON``): both libraries define the same configuration options.
"""

from __future__ import annotations

import configparser
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify import Notifier, get_notification_listener
from tests.amqp import admin
from tests.drivers import DriverEnv
from tests.helpers.context import RequestContext

WAIT = 15.0
ALLOWED = ["configparser"]


def expected_outcomes(who: str) -> dict[str, list[Any]]:
    """What oslo.messaging's client gets from oslo.messaging's server (a baseline run of
    ``tests/interop/oslo_peer.py`` against itself), for a server whose messages name ``who``:
    each library's caller must get the same from the other library's server."""
    cap = (
        "Requested message version, {} is incompatible.  It needs to be equal in major "
        "version and less than or equal in minor version as the specified version cap 1.5."
    )
    return {
        "fail_allowed": ["Error_Remote", True, f"{who} config says no"],
        "fail_private": ["RemoteError", "PrivateError" if who == "rpcmsg" else "PeerError",
                         f"{who} private says no"],
        "nomethod": ["RemoteError", "NoSuchMethod", "Endpoint does not support RPC method nope"],
        "v12": ["ok", 12],
        "v20": ["RemoteError", "UnsupportedVersion",
                "Endpoint does not support RPC version 2.0. Attempted method: echo"],
        "cap_can_send": [False, True, False],
        "cap_v12": ["ok", "capped"],
        "cap_v16": ["RPCVersionCapError", False, cap.format("1.6")],
        "cap_cast_unversioned": ["RPCVersionCapError", False, cap.format("None")],
    }  # fmt: skip


def outcome(call: Any) -> list[Any]:
    """rpcmsg's twin of ``oslo_peer.outcome``."""
    try:
        return ["ok", call()]
    except rpcmsg.RemoteError as exc:
        return ["RemoteError", exc.exc_type, str(exc.value).splitlines()[0]]
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        return [type(exc).__name__, isinstance(exc, configparser.Error), first]


def rpcmsg_outcomes(transport: rpcmsg.Transport, topic: str) -> dict[str, list[Any]]:
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=WAIT)
    capped = rpcmsg.get_rpc_client(
        transport, rpcmsg.Target(topic=topic), timeout=WAIT, version_cap="1.5"
    )
    return {
        "fail_allowed": outcome(lambda: client.call({}, "fail_allowed")),
        "fail_private": outcome(lambda: client.call({}, "fail_private")),
        "nomethod": outcome(lambda: client.call({}, "nope")),
        "v12": outcome(lambda: client.prepare(version="1.2").call({}, "echo", value=12)),
        "v20": outcome(lambda: client.prepare(version="2.0").call({}, "echo", value=20)),
        "cap_can_send": [
            capped.can_send_version(),
            capped.can_send_version("1.2"),
            capped.can_send_version("1.6"),
        ],
        "cap_v12": outcome(lambda: capped.prepare(version="1.2").call({}, "echo", value="capped")),
        "cap_v16": outcome(lambda: capped.prepare(version="1.6").call({}, "echo", value=0)),
        "cap_cast_unversioned": outcome(lambda: capped.cast({}, "record", value="no")),
    }


class PrivateError(Exception):
    """Defined in a test module: no caller allows its module."""


class Echo:
    target = rpcmsg.Target(version="1.5")

    def fail_allowed(self, ctxt: Any) -> None:
        raise configparser.Error("rpcmsg config says no")

    def fail_private(self, ctxt: Any) -> None:
        raise PrivateError("rpcmsg private says no")

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.cond = threading.Condition()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def context(self, ctxt: Any) -> Any:
        return ctxt

    def fail(self, ctxt: Any) -> None:
        raise ValueError("rpcmsg says no")

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"

    def record(self, ctxt: Any, value: Any) -> None:
        with self.cond:
            self.seen.append(value)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[Any]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.seen) >= count, WAIT)
            return list(self.seen)


class Notifications:
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.event = threading.Event()

    def info(self, ctxt: Any, publisher_id: Any, event_type: Any, payload: Any, md: Any) -> None:
        self.seen.append((ctxt, publisher_id, event_type, payload))
        self.event.set()


def test_oslo_client_calls_casts_and_fanouts_to_rpcmsg_server(
    rabbit: DriverEnv, oslo_peer: Any
) -> None:
    topic = rabbit.unique()
    endpoint = Echo()
    rabbit.server(topic, [endpoint], server="rpcmsg")
    peer = oslo_peer("client", rabbit.url, rabbit.exchange, topic)
    result = peer.next()
    assert {key: result[key] for key in expected_outcomes("rpcmsg")} == expected_outcomes("rpcmsg")
    assert result["echo"] == {"a": [1, "x"]}
    assert result["context"] == {"user": "bob"}
    assert result["fail"] == ["ValueError", "rpcmsg says no"]
    assert result["monitored"] == "slept"  # our keep-alive replies satisfy oslo's monitor
    assert sorted(endpoint.wait_for(2), key=str) == [1, "fanout"]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_rpcmsg_client_calls_casts_and_fanouts_to_oslo_server(
    rabbit: DriverEnv, oslo_peer: Any, compression: str | None
) -> None:
    topic = rabbit.unique()
    peer = oslo_peer("server", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    url = f"{rabbit.url}?kombu_compression={compression}" if compression else rabbit.url
    transport = rpcmsg.get_rpc_transport(rabbit.conf(), url, allowed_remote_exmods=ALLOWED)
    rabbit._transports.append(transport)
    client = rabbit.client(topic, timeout=WAIT, transport=transport)
    assert client.call({}, "echo", value={"b": [2, "y"]}) == {"b": [2, "y"]}
    ctxt = client.call({"user": "dan", "roles": ["x"]}, "context")
    ctxt.pop("client_timeout", None)  # oslo.messaging's server adds it
    assert ctxt == {"user": "dan", "roles": ["x"]}
    with pytest.raises(ValueError, match="oslo says no"):
        client.call({}, "fail")
    if compression is None:
        # oslo.messaging's keep-alive replies satisfy our call monitor. (Its servers send
        # them every half monitor timeout, and only when that half is a second or more.)
        monitored = client.prepare(call_monitor_timeout=2)
        assert monitored.call({}, "sleep", seconds=2.6) == "slept"
    client.cast({}, "record", value=2)
    assert peer.next() == {"record": 2}
    client.prepare(fanout=True).cast({}, "record", value="fanout")
    assert peer.next() == {"record": "fanout"}
    client.prepare(server="oslo").cast({}, "record", value="direct")
    assert peer.next() == {"record": "direct"}
    if compression is None:
        assert rpcmsg_outcomes(transport, topic) == expected_outcomes("oslo")


def test_oslo_notifications_reach_rpcmsg_listener(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique("notifications")
    endpoint = Notifications()
    listener = get_notification_listener(
        rabbit.notification_transport(), [rpcmsg.Target(topic=topic)], [endpoint]
    )
    listener.start()
    rabbit.track(listener)
    peer = oslo_peer("notify", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"sent": True}
    assert endpoint.event.wait(WAIT)
    # (oslo.messaging's Notifier puts no dict context on the wire, so none is compared.)
    assert [seen[1:] for seen in endpoint.seen] == [("oslo.peer", "interop.event", {"n": 1})]


def test_rpcmsg_notifications_reach_oslo_listener(rabbit: DriverEnv, oslo_peer: Any) -> None:
    topic = rabbit.unique("notifications")
    peer = oslo_peer("listen", rabbit.url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    notifier = Notifier(
        rabbit.notification_transport(),
        driver="messagingv2",
        publisher_id="rpcmsg.peer",
        topics=[topic],
    )
    notifier.info(RequestContext(user="erin", auth_token="t0k3n"), "interop.back", {"m": 2})
    got = peer.next()
    got["ctxt"].pop("client_timeout", None)  # oslo.messaging adds it on receipt
    assert got == {
        "priority": "info",
        "event_type": "interop.back",
        "payload": {"m": 2},
        "publisher_id": "rpcmsg.peer",
        "ctxt": {"user": "erin"},  # the redacted copy: no token
    }


# -- queue layouts set by [oslo_messaging_rabbit] options ------------------------------------

STREAM = "rabbit_stream_fanout=true&rabbit_transient_quorum_queue=true&rabbit_qos_prefetch_count=10"
LAYOUTS = {
    "transient-quorum": "rabbit_transient_quorum_queue=true",
    "stream-fanout": STREAM,
}


def rpcmsg_server(rabbit: DriverEnv, url: str, topic: str) -> tuple[Echo, rpcmsg.Transport]:
    """An rpcmsg server named ``rpcmsg`` on ``topic``, with its transport made from ``url``."""
    endpoint = Echo()
    t = rpcmsg.get_rpc_transport(rabbit.conf(), url)
    rabbit._transports.append(t)
    rabbit.server(topic, [endpoint], server="rpcmsg", transport=t)
    return endpoint, t


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_oslo_client_to_rpcmsg_server(
    rabbit: DriverEnv, oslo_peer: Any, layout: str
) -> None:
    url = f"{rabbit.url}?{LAYOUTS[layout]}"
    topic = rabbit.unique()
    endpoint, _ = rpcmsg_server(rabbit, url, topic)
    result = oslo_peer("client", url, rabbit.exchange, topic).next()
    assert result["echo"] == {"a": [1, "x"]}
    assert result["fail"] == ["ValueError", "rpcmsg says no"]
    assert sorted(endpoint.wait_for(2), key=str) == [1, "fanout"]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layouts_rpcmsg_client_to_oslo_server(
    rabbit: DriverEnv, oslo_peer: Any, layout: str
) -> None:
    url = f"{rabbit.url}?{LAYOUTS[layout]}"
    topic = rabbit.unique()
    peer = oslo_peer("server", url, rabbit.exchange, topic)
    assert peer.next() == {"ready": True}
    # The same topic served by both libraries: their queues must declare alike.
    endpoint, t = rpcmsg_server(rabbit, url, topic)
    client = rabbit.client(topic, timeout=WAIT, transport=t)
    assert client.prepare(server="oslo").call({}, "echo", value="q") == "q"
    client.prepare(fanout=True).cast({}, "record", value="fanout")
    assert peer.next() == {"record": "fanout"}
    assert endpoint.wait_for(1) == ["fanout"]
    kinds = {q["name"]: q["type"] for q in admin.rabbitmqctl("list_queues", "name", "type")}
    fanout_kinds = {kind for name, kind in kinds.items() if name.startswith(f"{topic}_fanout")}
    assert fanout_kinds == ({"stream"} if layout == "stream-fanout" else {"quorum"})


def test_queue_manager_names_are_shared_with_oslo(
    rabbit: DriverEnv, oslo_peer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An rpcmsg and an oslo.messaging process of one service generation on one host count
    their queue names in the same file: no name is given twice."""
    if not os.path.exists(f"/proc/{os.getpgrp()}"):
        # oslo.messaging's queue manager reads /proc/<process group leader>/stat and
        # crashes when that leader has exited (as under some CI wrappers).
        pytest.skip("our process group leader has exited: oslo's queue manager cannot run")
    host, proc = f"host-{uuid.uuid4().hex[:8]}", "interop"
    url = f"{rabbit.url}?use_queue_manager=true&hostname={host}&processname={proc}"
    counter = Path(f"/dev/shm/{host}_{proc}_qmanager")
    monkeypatch.setenv("OSLO_LOCK_PATH", str(tmp_path))  # oslo.messaging's lock needs one
    topic = rabbit.unique()
    try:
        endpoint, t = rpcmsg_server(rabbit, url, topic)
        result = oslo_peer("client", url, rabbit.exchange, topic).next()
        assert result["echo"] == {"a": [1, "x"]}
        assert sorted(endpoint.wait_for(2), key=str) == [1, "fanout"]
        names = {q["name"] for q in admin.rabbitmqctl("list_queues", "name")}
        assert f"{topic}_fanout_{host}:{proc}:1" in names  # rpcmsg's listener
        assert f"reply_{host}:{proc}:2" in names  # the oslo.messaging caller's
        client = rabbit.client(topic, timeout=WAIT, transport=t)
        assert client.call({}, "echo", value=3) == 3
        assert t._replies.address == f"reply_{host}:{proc}:3"
    finally:
        counter.unlink(missing_ok=True)
        with admin.channel() as ch:
            for name in (f"reply_{host}:{proc}:{n}" for n in range(1, 5)):
                ch.queue_delete(name)
