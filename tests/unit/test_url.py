from __future__ import annotations

import logging

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg import TransportHost, TransportURL


def parse(url: str) -> TransportURL:
    return TransportURL.parse(cfg.ConfigOpts(), url)


def test_full_grammar() -> None:
    url = parse(
        "rabbit://us%40r:p%3Ass@h1:5672,user2:pw2@[::1]:5673/my%2Fvhost?heartbeat_rate=3&ssl=1"
    )
    assert url.transport == "rabbit"
    assert url.hosts == [
        TransportHost("h1", 5672, "us@r", "p:ss"),
        TransportHost("::1", 5673, "user2", "pw2"),
    ]
    assert url.virtual_host == "my/vhost"
    assert url.query == {"heartbeat_rate": "3", "ssl": "1"}


def test_minimal_forms() -> None:
    assert parse("fake://").hosts == [] and parse("fake://").virtual_host is None
    assert parse("rabbit:///").virtual_host == ""
    assert parse("redis://h:6379/0").virtual_host == "0"
    url = parse("redis://:secret@h:6379/2")
    assert url.hosts == [TransportHost("h", 6379, "", "secret")]
    assert parse("rabbit://h?a=1").query == {"a": "1"}
    assert parse("rabbit://h").hosts == [TransportHost("h", None, None, None)]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("localhost:5672", "no scheme"),
        ("://host", "empty scheme"),
        ("rabbit://h:notaport/", "invalid port"),
        ("rabbit://h:70000/", "invalid port"),
        ("rabbit://[::1:5672/", "IPv6"),
    ],
)
def test_bad_urls_name_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(rpcmsg.InvalidTransportURL, match=fragment):
        parse(url)


def test_password_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    url = parse("rabbit://user:hunter2@h1:5672,u2:hunter3@h2/vh")
    for text in (str(url), repr(url), repr(url.hosts), repr(url.hosts[0])):
        assert "hunter" not in text
        assert "****" in text
    assert "hunter2" in url.to_string(mask=False)
    with pytest.raises(rpcmsg.InvalidTransportURL) as info:
        parse("rabbit://user:hunter2@h1:bad/")
    assert "hunter2" not in str(info.value)
    conf = cfg.ConfigOpts()
    conf([])
    with caplog.at_level(logging.DEBUG):
        transport = rpcmsg.get_rpc_transport(conf, "fake://user:hunter2@h/")
        logging.getLogger("test").info("transport %s %r", transport, transport)
        transport.cleanup()
    assert "hunter2" not in caplog.text


def test_round_trip() -> None:
    text = "rabbit://u:p@h1:1,[::1]:2/v?x=1"
    url = parse(text)
    assert parse(url.to_string(mask=False)) == url


def test_url_read_from_config_file(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "app.conf"  # type: ignore[operator]
    path.write_text("[DEFAULT]\ntransport_url = fake:///from-file\ncontrol_exchange = mine\n")
    conf = cfg.ConfigOpts()
    conf(["--config-file", str(path)])
    transport = rpcmsg.get_rpc_transport(conf)
    try:
        assert transport.url.transport == "fake"
        assert transport.url.virtual_host == "from-file"
        assert transport.driver.default_exchange == "mine"
    finally:
        transport.cleanup()


def test_missing_scheme_lists_installed_drivers() -> None:
    with pytest.raises(rpcmsg.InvalidTransportURL, match=r"installed drivers: .*fake"):
        parse("h1:5672")


def test_unknown_driver_lists_installed() -> None:
    conf = cfg.ConfigOpts()
    conf([])
    with pytest.raises(rpcmsg.DriverLoadFailure) as info:
        rpcmsg.get_rpc_transport(conf, "nosuchdriver://h/")
    assert "nosuchdriver" in str(info.value)
    assert "fake" in str(info.value)
    assert "fake" in info.value.available


def test_set_transport_defaults() -> None:
    try:
        rpcmsg.set_transport_defaults("my-exchange")
        conf = cfg.ConfigOpts()
        conf([])
        transport = rpcmsg.get_rpc_transport(conf, "fake://")
        assert transport.driver.default_exchange == "my-exchange"
        transport.cleanup()
    finally:
        rpcmsg.set_transport_defaults("openstack")
