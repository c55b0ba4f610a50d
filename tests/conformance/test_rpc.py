"""RPC behaviour every driver must show, driven through the public API."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import rpcmsg
from rpcmsg import _wire
from tests.drivers import DriverEnv

WAIT = 10.0


class Echo:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.seen: list[Any] = []
        self.event = threading.Event()
        self.lock = threading.Lock()

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def context(self, ctxt: Any) -> Any:
        return ctxt

    def whoami(self, ctxt: Any) -> str:
        return self.name

    def record(self, ctxt: Any, value: Any) -> None:
        with self.lock:
            self.seen.append(value)
        self.event.set()

    def fail(self, ctxt: Any, kind: str) -> None:
        if kind == "value":
            raise ValueError("bad value")
        if kind == "key":
            raise KeyError("missing")
        raise RuntimeError("boom")

    def custom(self, ctxt: Any) -> None:
        raise CustomError("custom failure", 42)

    def _private(self, ctxt: Any) -> str:
        return "secret"

    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


class CustomError(Exception):
    pass


def wait_for(predicate: Any, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_call_returns_result_and_context(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "echo", value={"a": [1, 2, "x"]}) == {"a": [1, 2, "x"]}
    assert client.call({"user": "alice", "n": 3}, "context") == {"user": "alice", "n": 3}


def test_builtin_exception_is_rebuilt(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    with pytest.raises(ValueError, match="bad value"):
        client.call({}, "fail", kind="value")
    with pytest.raises(KeyError):
        client.call({}, "fail", kind="key")


def test_exception_from_unlisted_module_is_remote_error(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    with pytest.raises(rpcmsg.RemoteError) as info:
        client.call({}, "custom")
    assert info.value.exc_type == "CustomError"
    assert "custom failure" in (info.value.value or "")
    assert "Traceback" in "".join(info.value.traceback)


def test_exception_from_allowed_module_is_rebuilt(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    transport = env.transport(allowed_remote_exmods=[__name__])
    client = env.client(topic, timeout=WAIT, transport=transport)
    with pytest.raises(CustomError) as info:
        client.call({}, "custom")
    assert info.value.args == ("custom failure", 42)


def test_no_such_method_and_private_methods(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    # As with oslo.messaging: RemoteError unless the caller allows the dispatcher's module.
    with pytest.raises(rpcmsg.RemoteError) as info:
        client.call({}, "does_not_exist")
    assert info.value.exc_type == "NoSuchMethod"
    assert "does_not_exist" in (info.value.value or "")
    with pytest.raises(rpcmsg.RemoteError):
        client.call({}, "_private")
    allowing = env.transport(allowed_remote_exmods=["oslo_messaging.rpc.dispatcher"])
    client = env.client(topic, timeout=WAIT, transport=allowing)
    with pytest.raises(rpcmsg.NoSuchMethod) as rebuilt:
        client.call({}, "does_not_exist")
    assert type(rebuilt.value).__name__ == "NoSuchMethod_Remote"
    assert "does_not_exist" in str(rebuilt.value)


def test_versions_and_namespaces(env: DriverEnv) -> None:
    class V1:
        target = rpcmsg.Target(namespace="compute", version="1.3")

        def method(self, ctxt: Any) -> str:
            return "compute-1.3"

    class V2:
        target = rpcmsg.Target(namespace="compute", version="2.0")

        def method(self, ctxt: Any) -> str:
            return "compute-2.0"

    topic = env.unique()
    env.server(topic, [V1(), V2(), Echo()])
    client = env.client(topic, timeout=WAIT)
    assert client.prepare(namespace="compute", version="1.1").call({}, "method") == "compute-1.3"
    assert client.prepare(namespace="compute", version="2.0").call({}, "method") == "compute-2.0"
    with pytest.raises(rpcmsg.RemoteError) as info:
        client.prepare(namespace="compute", version="1.4").call({}, "method")
    assert info.value.exc_type == "UnsupportedVersion"
    with pytest.raises(rpcmsg.RemoteError) as info:
        client.prepare(namespace="other").call({}, "method")
    assert info.value.exc_type == "UnsupportedVersion"
    # The default namespace (None) still reaches the plain endpoint.
    assert client.call({}, "echo", value=1) == 1


def test_call_without_server_times_out(env: DriverEnv) -> None:
    client = env.client(env.unique(), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 5


def test_cast_reaches_exactly_one_server_and_shares_load(env: DriverEnv) -> None:
    topic = env.unique()
    a, b = Echo("a"), Echo("b")
    env.server(topic, [a], server="a")
    env.server(topic, [b], server="b")
    client = env.client(topic)
    # Give both servers time to be subscribed before load is measured.
    assert client.prepare(server="a", timeout=WAIT).call({}, "whoami") == "a"
    assert client.prepare(server="b", timeout=WAIT).call({}, "whoami") == "b"
    for i in range(40):
        client.cast({}, "record", value=i)
    assert wait_for(lambda: len(a.seen) + len(b.seen) >= 40)
    time.sleep(0.2)
    assert sorted(a.seen + b.seen) == list(range(40))
    assert a.seen and b.seen, "casts to a topic must be shared among its servers"


def test_server_targeted_cast_and_call(env: DriverEnv) -> None:
    topic = env.unique()
    a, b = Echo("a"), Echo("b")
    env.server(topic, [a], server="a")
    env.server(topic, [b], server="b")
    client = env.client(topic, timeout=WAIT)
    for _ in range(5):
        assert client.prepare(server="b").call({}, "whoami") == "b"
    for i in range(10):
        client.prepare(server="a").cast({}, "record", value=i)
    assert wait_for(lambda: len(a.seen) == 10)
    assert b.seen == []


def test_fanout_reaches_every_server(env: DriverEnv) -> None:
    topic = env.unique()
    servers = [Echo(name) for name in "abc"]
    for endpoint in servers:
        env.server(topic, [endpoint], server=endpoint.name)
    client = env.client(topic, timeout=WAIT)
    for endpoint in servers:
        assert client.prepare(server=endpoint.name).call({}, "whoami") == endpoint.name
    client.prepare(fanout=True).cast({}, "record", value="hello")
    assert wait_for(lambda: all(e.seen == ["hello"] for e in servers))


def test_call_to_fanout_target_is_invalid(env: DriverEnv) -> None:
    client = env.client(env.unique())
    with pytest.raises(rpcmsg.InvalidTarget):
        client.prepare(fanout=True).call({}, "echo", value=1)


def test_exchange_isolates(env: DriverEnv) -> None:
    topic = env.unique()
    inside = Echo("inside")
    env.server(topic, [inside])
    client = env.client(topic, timeout=0.5)
    with pytest.raises(rpcmsg.MessagingTimeout):
        client.prepare(exchange=env.unique("other-exchange")).call({}, "whoami")
    assert client.prepare(timeout=WAIT).call({}, "whoami") == "inside"


def test_version_cap(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT, version_cap="1.5")
    assert client.can_send_version("1.4")
    assert not client.can_send_version("1.6")
    assert not client.can_send_version("2.0")
    with pytest.raises(rpcmsg.RPCVersionCapError):
        client.prepare(version="1.6").call({}, "echo", value=1)
    with pytest.raises(rpcmsg.RPCVersionCapError):
        client.prepare(version="2.0").cast({}, "echo", value=1)
    assert client.prepare(version="1.0").call({}, "echo", value=1) == 1


def test_version_cap_refuses_a_message_without_version(env: DriverEnv) -> None:
    topic = env.unique()
    echo = Echo()
    env.server(topic, [echo])
    capped = env.client(topic, timeout=WAIT, version_cap="1.5")
    assert not capped.can_send_version()
    assert not capped.can_send_version(None)
    assert not capped.prepare().can_send_version()
    with pytest.raises(rpcmsg.RPCVersionCapError):
        capped.cast({}, "record", value="capped")
    with pytest.raises(rpcmsg.RPCVersionCapError):
        capped.call({}, "echo", value=1)
    uncapped = capped.prepare(version_cap=None)
    assert uncapped.can_send_version() and uncapped.can_send_version("9.9")
    uncapped.cast({}, "record", value="uncapped")
    assert echo.event.wait(WAIT)
    assert uncapped.call({}, "echo", value=2) == 2
    assert echo.seen == ["uncapped"]


def test_concurrent_calls_from_threads(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                results[n * 100 + i] = client.call({}, "echo", value=n * 100 + i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == {k: k for k in results} and len(results) == 160


def test_calls_run_concurrently_on_one_server(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT)
    outcomes: list[Any] = []

    def call() -> None:
        try:
            outcomes.append(client.call({}, "sleep", seconds=0.5))
        except Exception as exc:  # reported below: a call that failed fails the test
            outcomes.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == ["slept"] * 4
    assert time.monotonic() - started < 1.8


def test_call_monitor_keeps_long_call_alive(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    client = env.client(topic, timeout=WAIT, call_monitor_timeout=0.4)
    assert client.call({}, "sleep", seconds=1.5) == "slept"


def test_call_monitor_fails_fast_when_server_is_gone(env: DriverEnv) -> None:
    """A request taken by a server that then goes silent fails after the monitor timeout,
    not after the (much longer) call timeout."""
    topic = env.unique()
    transport = env.transport()
    target = rpcmsg.Target(topic=topic, server="dead", exchange=env.exchange)
    silent = transport.driver.listen(target)  # takes requests and never answers
    try:
        client = env.client(topic, timeout=30, call_monitor_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(rpcmsg.MessagingTimeout):
            client.call({}, "echo", value=1)
        assert time.monotonic() - started < 5
    finally:
        silent.stop()
        silent.cleanup()


def test_stop_lets_in_flight_work_finish(env: DriverEnv) -> None:
    topic = env.unique()

    class Slow:
        def __init__(self) -> None:
            self.started = threading.Event()
            self.finished = threading.Event()

        def work(self, ctxt: Any) -> None:
            self.started.set()
            time.sleep(0.5)
            self.finished.set()

    slow = Slow()
    transport = env.transport()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s"), [slow])
    server.start()
    env.client(topic).cast({}, "work")
    assert slow.started.wait(WAIT)
    server.stop()
    server.wait()
    assert slow.finished.is_set()


def test_server_restarts_after_stop(env: DriverEnv) -> None:
    topic = env.unique()
    transport = env.transport()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s"), [Echo()])
    client = env.client(topic, timeout=WAIT)
    for _ in range(2):
        server.start()
        assert client.call({}, "echo", value="up") == "up"
        server.stop()
        server.wait()


def test_casts_sent_before_server_starts_are_delivered(env: DriverEnv) -> None:
    topic = env.unique()
    transport = env.transport()
    endpoint = Echo()
    server = env.track(
        rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s"), [endpoint])
    )
    server.start()  # declares the topic's queue
    server.stop()
    server.wait()
    client = env.client(topic)
    for i in range(5):
        client.cast({}, "record", value=i)
    server.start()
    assert wait_for(lambda: len(endpoint.seen) == 5)
    assert sorted(endpoint.seen) == list(range(5))


def test_arguments_json_cannot_carry_fail_at_the_caller(env: DriverEnv) -> None:
    client = env.client(env.unique(), timeout=1)
    with pytest.raises(TypeError, match="JSON"):
        client.cast({}, "echo", value=object())
    with pytest.raises(TypeError, match="JSON"):
        client.call({}, "echo", value={1, 2})


def test_unserializable_result_reaches_caller_as_error(env: DriverEnv) -> None:
    class Odd:
        def odd(self, ctxt: Any) -> Any:
            return object()

    topic = env.unique()
    env.server(topic, [Odd()])
    with pytest.raises(TypeError, match="serialized"):
        env.client(topic, timeout=WAIT).call({}, "odd")


def test_malformed_requests_do_not_kill_the_server(env: DriverEnv) -> None:
    topic = env.unique()
    env.server(topic, [Echo()])
    transport = env.transport()
    target = rpcmsg.Target(topic=topic, exchange=env.exchange)
    for junk in (b"not json", b"[1, 2]", b'{"oslo.version": "2.0", "oslo.message": "{bad"}'):
        transport.driver.send(target, junk)
    # A request with a reply address but no method, and one with args not a mapping:
    # each caller gets an error instead of a timeout.
    replies = transport._replies
    for message in ({"args": {}}, {"method": "echo", "args": [1]}):
        msg_id = _wire.new_id()
        message.update(_msg_id=msg_id, _reply_q=replies.address, _unique_id=_wire.new_id())
        q = replies.register(msg_id)
        transport.driver.send(target, _wire.encode(message))
        with pytest.raises(rpcmsg.RemoteError) as info:
            replies.wait(msg_id, q, WAIT, None)
        assert info.value.exc_type in ("NoSuchMethod", "RPCDispatcherError")
        replies.unregister(msg_id)
    assert env.client(topic, timeout=WAIT).call({}, "echo", value="alive") == "alive"


def test_expected_exceptions_reach_the_caller(env: DriverEnv) -> None:
    class Guarded:
        @rpcmsg.expected_exceptions(ValueError)
        def check(self, ctxt: Any) -> None:
            raise ValueError("expected")

    topic = env.unique()
    env.server(topic, [Guarded()])
    with pytest.raises(ValueError, match="expected"):
        env.client(topic, timeout=WAIT).call({}, "check")


def test_explicit_access_policy(env: DriverEnv) -> None:
    class Api:
        @rpcmsg.expose
        def visible(self, ctxt: Any) -> str:
            return "ok"

        def hidden(self, ctxt: Any) -> str:
            return "no"

    topic = env.unique()
    env.server(topic, [Api()], access_policy=rpcmsg.ExplicitRPCAccessPolicy)
    client = env.client(topic, timeout=WAIT)
    assert client.call({}, "visible") == "ok"
    with pytest.raises(rpcmsg.RemoteError) as info:
        client.call({}, "hidden")
    assert info.value.exc_type == "NoSuchMethod"


def test_serializer_is_applied_both_ways(env: DriverEnv) -> None:
    class Tagging(rpcmsg.NoOpSerializer):
        def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
            return {"tagged": entity}

        def deserialize_entity(self, ctxt: Any, entity: Any) -> Any:
            return entity["tagged"] if isinstance(entity, dict) and "tagged" in entity else entity

    topic = env.unique()
    env.server(topic, [Echo()], serializer=Tagging())
    client = env.client(topic, timeout=WAIT, serializer=Tagging())
    assert client.call({}, "echo", value=[1, 2]) == [1, 2]


def test_ping_when_enabled(env: DriverEnv) -> None:
    conf = env.conf()
    conf.set_override("rpc_ping_enabled", True)
    topic = env.unique()
    env.server(topic, [Echo()], transport=env.transport(conf))
    assert env.client(topic, timeout=WAIT).call({}, "oslo_rpc_server_ping") == "pong"


def test_mandatory_send_to_unbound_topic_is_undeliverable(env: DriverEnv) -> None:
    if not env.capabilities.mandatory:
        pytest.skip(f"{env.name} does not declare the mandatory capability")
    client = env.client(
        env.unique(),
        timeout=30,
        transport_options=rpcmsg.TransportOptions(at_least_once=True),
    )
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessageUndeliverable):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 5
