from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from oslo_config import cfg

import rpcmsg
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
