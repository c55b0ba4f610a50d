"""oslo.messaging's RPC surface as oslo-written code uses it: names, signatures, errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg import dispatcher as dispatcher_module
from rpcmsg import server as server_module
from rpcmsg.opts import register_opts
from rpcmsg.rpc import dispatcher as rpc_dispatcher
from rpcmsg.rpc import transport as rpc_transport
from tests.drivers import DriverEnv

WAIT = 10.0


class Echo:
    def echo(self, ctxt: Any, value: Any) -> Any:
        return value


@pytest.fixture
def ping_in_global_conf() -> Iterator[None]:
    register_opts(cfg.CONF)
    cfg.CONF.set_override("rpc_ping_enabled", True)
    yield
    cfg.CONF.clear_override("rpc_ping_enabled")


class Incoming:
    """What oslo's dispatcher tests hand ``dispatch``: ctxt, message, client_timeout."""

    def __init__(self, message: dict[str, Any], client_timeout: float | None = None) -> None:
        self.ctxt: dict[str, Any] = {}
        self.message = message
        self.client_timeout = client_timeout
        self.heartbeats = 0
        self.fail_heartbeats = False
        self.beat = threading.Event()

    def heartbeat(self) -> None:
        self.heartbeats += 1
        if self.heartbeats >= 2:
            self.beat.set()
        if self.fail_heartbeats:
            raise ConnectionError("the caller's reply queue is gone")


# -- names ------------------------------------------------------------------------------


def test_module_names_services_import() -> None:
    assert rpc_transport.get_rpc_transport is rpcmsg.get_rpc_transport
    assert rpcmsg.rpc.transport is rpc_transport
    assert issubclass(rpcmsg.RPCDispatcher, dispatcher_module.DispatcherBase)
    with pytest.raises(TypeError):
        dispatcher_module.DispatcherBase()  # type: ignore[abstract]
    assert rpc_dispatcher.PingEndpoint().oslo_rpc_server_ping({}) == "pong"
    assert server_module.DEFAULT_LOG_AFTER == 30
    assert issubclass(server_module.TaskTimeout, rpcmsg.MessagingServerError)
    assert callable(server_module.ordered)


# -- client -----------------------------------------------------------------------------


def test_get_rpc_client_builds_client_cls(fake_env: DriverEnv) -> None:
    class MyClient(rpcmsg.RPCClient):
        pass

    transport = fake_env.transport()
    client = rpcmsg.get_rpc_client(
        transport, rpcmsg.Target(topic="t"), client_cls=MyClient, timeout=3
    )
    assert type(client) is MyClient
    assert client.timeout == 3


def test_rpc_client_built_by_hand_or_on_a_notification_transport_warns(
    fake_env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rpcmsg.rpc.client")
    rpcmsg.get_rpc_client(fake_env.transport(), rpcmsg.Target(topic="t"))
    assert not caplog.records
    rpcmsg.RPCClient(fake_env.transport(), rpcmsg.Target(topic="t"))
    assert "get_rpc_client" in caplog.text
    caplog.clear()
    rpcmsg.get_rpc_client(fake_env.notification_transport(), rpcmsg.Target(topic="t"))
    assert "get_rpc_transport" in caplog.text


@pytest.mark.parametrize("version", ["abc", "5", "5.a", "5.5.a", ""])
def test_prepare_refuses_a_malformed_version(fake_env: DriverEnv, version: str) -> None:
    client = rpcmsg.get_rpc_client(fake_env.transport(), rpcmsg.Target(topic="t"))
    with pytest.raises(rpcmsg.MessagingException, match="major and minor"):
        client.prepare(version=version)
    with pytest.raises(rpcmsg.MessagingException, match="major and minor"):
        client.can_send_version(version)


def test_prepare_takes_well_formed_versions(fake_env: DriverEnv) -> None:
    client = rpcmsg.get_rpc_client(fake_env.transport(), rpcmsg.Target(topic="t"))
    assert client.prepare(version="2.3").target.version == "2.3"
    assert client.prepare(version="2.3.1").target.version == "2.3.1"
    assert client.prepare(version=None).target.version is None


# -- dispatcher -------------------------------------------------------------------------


def test_endpoint_target_must_be_a_target() -> None:
    class Bad:
        def target(self, ctxt: Any) -> None:  # a method named target, as oslo warns against
            pass

    with pytest.raises(TypeError, match="reserved"):
        rpcmsg.RPCDispatcher([Bad()], None)
    rpcmsg.RPCDispatcher([Echo()], None)  # no target attribute is fine


def test_dispatch_takes_oslo_incoming_and_keeps_the_endpoint_list() -> None:
    endpoints: list[Any] = [Echo()]
    d = rpcmsg.RPCDispatcher(endpoints, None, ping_enabled=False)
    assert d.endpoints is endpoints
    assert d.dispatch(Incoming({"method": "echo", "args": {"value": 5}})) == 5


def test_ping_follows_rpc_ping_enabled_in_the_global_conf(ping_in_global_conf: None) -> None:
    d = rpcmsg.RPCDispatcher([], None)
    assert d.dispatch(Incoming({"method": "oslo_rpc_server_ping"})) == "pong"

    class OwnPing:
        def oslo_rpc_server_ping(self, ctxt: Any) -> str:
            return "mine"

    d = rpcmsg.RPCDispatcher([OwnPing()], None)
    assert len(d.endpoints) == 1
    assert d.dispatch(Incoming({"method": "oslo_rpc_server_ping"})) == "mine"


def test_no_ping_endpoint_unless_enabled() -> None:
    d = rpcmsg.RPCDispatcher([], None)
    with pytest.raises(rpcmsg.UnsupportedVersion):
        d.dispatch(Incoming({"method": "oslo_rpc_server_ping"}))


def test_server_enables_ping_from_the_global_conf(
    fake_env: DriverEnv, ping_in_global_conf: None
) -> None:
    topic = fake_env.unique()
    transport = fake_env.transport()
    fake_env.server(topic, [Echo()], transport=transport)
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=WAIT)
    assert client.call({}, "oslo_rpc_server_ping") == "pong"


def test_dispatcher_heartbeats_while_a_monitored_call_runs() -> None:
    incoming = Incoming({"method": "work"}, client_timeout=0.1)

    class Slow:
        def work(self, ctxt: Any) -> bool:
            return incoming.beat.wait(WAIT)

    assert rpcmsg.RPCDispatcher([Slow()], None).dispatch(incoming) is True
    beats = incoming.heartbeats
    assert beats >= 2
    threading.Event().wait(0.3)
    assert incoming.heartbeats == beats, "heartbeats must stop when the method returned"


def test_dispatcher_stops_heartbeating_after_a_failed_heartbeat() -> None:
    incoming = Incoming({"method": "work"}, client_timeout=0.05)
    incoming.fail_heartbeats = True

    class Slow:
        def work(self, ctxt: Any) -> str:
            threading.Event().wait(0.5)  # ten heartbeat intervals
            return "done"

    assert rpcmsg.RPCDispatcher([Slow()], None).dispatch(incoming) == "done"
    assert incoming.heartbeats == 1


# -- server -----------------------------------------------------------------------------


def _server(env: DriverEnv) -> rpcmsg.MessageHandlingServer:
    return rpcmsg.get_rpc_server(
        env.transport(), rpcmsg.Target(topic=env.unique(), server="s1"), [Echo()]
    )


def test_executor_defaults_to_threading_without_eventlet_patching(fake_env: DriverEnv) -> None:
    assert _server(fake_env).executor_type == "threading"


def test_executor_defaults_to_eventlet_in_a_patched_process() -> None:
    pytest.importorskip("eventlet")
    code = (
        "import eventlet; eventlet.monkey_patch()\n"
        "import rpcmsg\n"
        "from oslo_config import cfg\n"
        "t = rpcmsg.get_rpc_transport(cfg.ConfigOpts(), 'fake:///x')\n"
        "s = rpcmsg.get_rpc_server(t, rpcmsg.Target(topic='a', server='b'), [])\n"
        "print(s.executor_type)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "eventlet"


def test_stop_before_start_waits_for_start(fake_env: DriverEnv) -> None:
    server = _server(fake_env)
    stopped = threading.Event()
    waited = threading.Event()
    threading.Thread(target=lambda: (server.wait(), waited.set()), daemon=True).start()
    threading.Thread(target=lambda: (server.stop(), stopped.set()), daemon=True).start()
    assert not stopped.wait(0.2)
    server.start()
    assert stopped.wait(WAIT)
    assert waited.wait(WAIT)


def test_stop_with_a_timeout_raises_task_timeout_and_logs_a_possible_hang(
    fake_env: DriverEnv, caplog: pytest.LogCaptureFixture
) -> None:
    server = _server(fake_env)
    caplog.set_level(logging.WARNING, logger="rpcmsg.server")
    with pytest.raises(server_module.TaskTimeout):
        server.stop(timeout=0.3, log_after=0.05)
    assert "Possible hang" in caplog.text
    caplog.clear()
    with pytest.raises(server_module.TaskTimeout):
        server.stop(timeout=0.2, log_after=0)
    assert "Possible hang" not in caplog.text


def test_lifecycle_steps_run_once_per_cycle_and_restart(fake_env: DriverEnv) -> None:
    topic = fake_env.unique()
    transport = fake_env.transport()
    server = rpcmsg.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s1"), [Echo()])
    client = rpcmsg.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=WAIT)
    for _ in range(2):
        server.start()
        server.start()
        assert client.call({}, "echo", value=1) == 1
        server.stop()
        server.wait()
        server.stop()
        server.wait()
    assert server.listener is not None


def test_ordered_decorator_and_reset_states(fake_env: DriverEnv) -> None:
    calls: list[str] = []

    class Custom(rpcmsg.rpc.RPCServer):
        @server_module.ordered(after="start")
        def drain(self) -> None:
            calls.append("drain")

    dispatcher = rpcmsg.RPCDispatcher([Echo()], None)
    target = rpcmsg.Target(topic=fake_env.unique(), server="s1")
    server = Custom(fake_env.transport(), target, dispatcher)
    with pytest.raises(server_module.TaskTimeout):
        server.drain(timeout=0.1)
    server.start()
    server.drain()
    server.drain()
    assert calls == ["drain"]
    server.reset_states()
    with pytest.raises(server_module.TaskTimeout):
        server.drain(timeout=0.1)
    server.start()
    server.drain()
    assert calls == ["drain", "drain"]
    server.stop()
    server.wait()


def _oslo_service() -> Any:
    if os.environ.get("CI"):
        from oslo_service import service  # the test extra installs it: it must be there

        return service
    return pytest.importorskip("oslo_service.service")


def test_servers_are_oslo_service_bases(fake_env: DriverEnv) -> None:
    service = _oslo_service()
    assert isinstance(_server(fake_env), service.ServiceBase)
    listener = rpcmsg.get_notification_listener(
        fake_env.notification_transport(), [rpcmsg.Target(topic=fake_env.unique())], []
    )
    assert isinstance(listener, service.ServiceBase)


class PushListener:
    """oslo.messaging's listener shape: it pushes each message to ``on_incoming``."""

    def __init__(self) -> None:
        self.on_incoming: Any = None
        self.calls: list[str] = []

    def start(self, on_incoming: Any) -> None:
        self.calls.append("start")
        self.on_incoming = on_incoming

    def stop(self) -> None:
        self.calls.append("stop")

    def cleanup(self) -> None:
        self.calls.append("cleanup")


def test_oslo_style_server_subclass_runs_process_incoming(fake_env: DriverEnv) -> None:
    handled: list[Any] = []
    release = threading.Event()

    class PushServer(rpcmsg.MessageHandlingServer):
        def _create_listener(self) -> Any:
            return PushListener()

        def _process_incoming(self, incoming: Any) -> None:
            release.wait(WAIT)
            handled.append(incoming)

    server = PushServer(fake_env.transport(), None)
    server.start()
    listener: Any = server.listener
    assert listener.calls == ["start"]
    listener.on_incoming("m1")
    listener.on_incoming("m2")
    server.stop()
    waited = threading.Event()
    threading.Thread(target=lambda: (server.wait(), waited.set()), daemon=True).start()
    assert not waited.wait(0.2), "wait() must wait for messages in hand"
    release.set()
    assert waited.wait(WAIT)
    assert sorted(handled) == ["m1", "m2"]
    assert listener.calls == ["start", "stop", "cleanup"]


def test_a_server_subclass_needs_a_processing_hook(fake_env: DriverEnv) -> None:
    class Neither(rpcmsg.MessageHandlingServer):
        def _create_listener(self) -> Any:
            return PushListener()

    with pytest.raises(TypeError, match="_process"):
        Neither(fake_env.transport(), None)
