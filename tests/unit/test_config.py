from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oslo_config import cfg

import rpcmsg
import rpcmsg.opts
from rpcmsg.conffixture import ConfFixture
from rpcmsg.opts import list_opts

ROOT = Path(__file__).resolve().parents[2]


def test_list_opts_has_oslo_names_and_defaults() -> None:
    groups = {group: {opt.dest: opt for opt in opts} for group, opts in list_opts()}
    default = groups[None]
    assert default["transport_url"].default == "rabbit://" and default["transport_url"].secret
    assert default["control_exchange"].default == "openstack"
    assert default["rpc_response_timeout"].default == 60
    assert default["executor_thread_pool_size"].default == 64
    assert default["rpc_ping_enabled"].default is False
    notifications = groups["oslo_messaging_notifications"]
    assert notifications["driver"].default == []
    assert notifications["topics"].default == ["notifications"]
    assert notifications["retry"].default == -1
    assert notifications["transport_url"].secret


def test_sample_config_is_current(tmp_path: Path) -> None:
    out = tmp_path / "sample.conf"
    subprocess.run(
        [
            sys.executable, "-m", "oslo_config.generator",
            "--config-file", str(ROOT / "etc" / "rpcmsg-config-generator.conf"),
            "--output-file", str(out),
        ],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    committed = (ROOT / "etc" / "rpcmsg.conf.sample").read_text()
    assert out.read_text() == committed, (
        "etc/rpcmsg.conf.sample is stale: run "
        "`oslo-config-generator --config-file etc/rpcmsg-config-generator.conf`"
    )


def test_conf_fixture_defaults_to_fake_and_cleans_up() -> None:
    conf = cfg.ConfigOpts()
    conf([])
    fixture = ConfFixture(conf)
    fixture.setUp()
    try:
        assert conf.transport_url == "fake://"
        fixture.response_timeout = 3
        assert conf.rpc_response_timeout == 3
        transport = rpcmsg.get_rpc_transport(conf)
        assert transport.url.transport == "fake"
        transport.cleanup()
        fixture.transport_url = "fake:///other"
        assert fixture.transport_driver == "fake"
    finally:
        fixture.cleanUp()
    assert conf.transport_url == "rabbit://"
    assert conf.rpc_response_timeout == 60


def test_conf_fixture_registers_every_driver_group_at_construction() -> None:
    conf = cfg.ConfigOpts()
    conf([])
    ConfFixture(conf)
    conf.set_override("heartbeat_timeout_threshold", 0, group="oslo_messaging_rabbit")
    assert conf.oslo_messaging_rabbit.heartbeat_timeout_threshold == 0
    for group, opts in rpcmsg.opts.driver_opts():
        assert {o.dest for o in opts} <= set(conf[group])


def test_conf_fixture_takes_old_notification_names_and_resets_on_cleanup() -> None:
    conf = cfg.ConfigOpts()
    conf([])
    fixture = ConfFixture(conf)
    fixture.setUp()
    try:
        conf.set_override("notification_driver", ["messaging"])
        conf.set_override("notification_topics", ["t1"])
        conf.set_override("control_exchange", "elsewhere")
        assert conf.oslo_messaging_notifications.driver == ["messaging"]
        assert conf.oslo_messaging_notifications.topics == ["t1"]
        conf.clear_override("notification_topics")
        assert conf.oslo_messaging_notifications.topics == ["notifications"]
        assert conf.set_override.wrapped is not None
    finally:
        fixture.cleanUp()
    assert not hasattr(conf.set_override, "wrapped")
    assert not hasattr(conf.clear_override, "wrapped")
    # conf.reset(), as oslo's fixture: every override made during the test is gone.
    assert conf.oslo_messaging_notifications.driver == []
    assert conf.control_exchange == "openstack"


def test_options_under_the_oslo_messaging_generator_namespace() -> None:
    from stevedore import ExtensionManager

    found = {ext.name: ext.obj for ext in ExtensionManager("oslo.config.opts", invoke_on_load=True)}
    assert "oslo.messaging" in found and "rpcmsg" in found
    groups = [group for group, _ in found["oslo.messaging"]]
    assert groups == [group for group, _ in list_opts()]
    assert "oslo_messaging_rabbit" in groups


def test_oslo_config_generator_finds_the_oslo_messaging_namespace(tmp_path: Path) -> None:
    out = tmp_path / "sample.conf"
    subprocess.run(
        [
            sys.executable, "-m", "oslo_config.generator",
            "--namespace", "oslo.messaging", "--output-file", str(out),
        ],
        check=True,
    )  # fmt: skip
    text = out.read_text()
    assert "[oslo_messaging_rabbit]" in text and "#transport_url = rabbit://" in text


def test_list_opts_gives_copies() -> None:
    first = list_opts()[0][1][0]
    first.default = "changed"
    assert list_opts()[0][1][0].default != "changed"


def test_opts_set_defaults() -> None:
    conf = cfg.ConfigOpts()
    conf([])
    rpcmsg.opts.set_defaults(conf, executor_thread_pool_size=100)
    assert conf.executor_thread_pool_size == 100
    rpcmsg.opts.set_defaults(conf)
    assert conf.executor_thread_pool_size == 100
    other = cfg.ConfigOpts()
    other([])
    rpcmsg.opts.register_opts(other)
    assert other.executor_thread_pool_size == 64


def test_conf_fixture_with_use_fixture() -> None:
    import fixtures

    class Case(fixtures.TestWithFixtures):
        def runTest(self) -> None:
            conf = cfg.ConfigOpts()
            conf([])
            messaging_conf = self.useFixture(ConfFixture(conf, "fake:///case"))
            assert conf.transport_url == "fake:///case"
            assert messaging_conf.transport_url == "fake:///case"

    result = Case().run()
    assert result is not None and result.wasSuccessful(), result and result.failures
