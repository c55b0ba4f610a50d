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
        ("invalid", "^No scheme specified"),
        ("://host", "^No scheme specified"),
        ("//host:5672/", "^No scheme specified"),
        ("rabbit://h:notaport/", "invalid port"),
        ("rabbit://h:70000/", "invalid port"),
        ("rabbit://[::1:5672/", "IPv6"),
        ("rabbit://[::1]x/", "IPv6"),
    ],
)
def test_bad_urls_name_the_problem(url: str, fragment: str) -> None:
    with pytest.raises(rpcmsg.InvalidTransportURL, match=fragment):
        parse(url)


def test_password_masked_in_repr_logs_and_errors_but_not_str(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = parse("rabbit://user:hunter2@h1:5672,u2:hunter3@h2/vh")
    for text in (repr(url), repr(url.hosts), repr(url.hosts[0]), url.to_string(mask=True)):
        assert "hunter" not in text
        assert "****" in text
    # str() is oslo.messaging's: the URL in full (services rebuild URLs from it).
    assert str(url) == "rabbit://user:hunter2@h1:5672,u2:hunter3@h2/vh"
    with pytest.raises(rpcmsg.InvalidTransportURL) as info:
        parse("rabbit://user:hunter2@h1:bad/")
    assert "hunter2" not in str(info.value)
    conf = cfg.ConfigOpts()
    conf([])
    with caplog.at_level(logging.DEBUG):
        transport = rpcmsg.get_rpc_transport(conf, "fake://user:hunter2@h/")
        logging.getLogger("test").info("transport %s %r", transport, transport)
        parse("rabbit://user:hunter2@h1,h2/")  # warns: credentials on some hosts only
        transport.cleanup()
    assert "h1,h2" in caplog.text
    assert "hunter2" not in caplog.text


# The expected strings are what oslo.messaging 18.3.1 gives for the same input.
@pytest.mark.parametrize(
    ("text", "oslo_str"),
    [
        ("fake:", "fake:///"),
        ("fake:/", "fake:///"),
        ("rabbit:///", "rabbit:///"),
        ("rabbit://h", "rabbit://h/"),
        ("rabbit://u:p@", "rabbit://u:p@/"),
        ("redis://:secret@h:6379/2", "redis://:secret@h:6379/2"),
        ("rabbit://u:p@h/?a=1&a=2&b=", "rabbit://u:p@h/?a=1%2C2"),
        (
            "rabbit://us%40r:p%3Ass@h1:5672,user2:pw2@[::1]:5673/my%2Fvhost?heartbeat_rate=3&ssl=1",
            "rabbit://us%40r:p%3Ass@h1:5672,user2:pw2@[::1]:5673/my/vhost?heartbeat_rate=3&ssl=1",
        ),
    ],
)
def test_str_is_oslo_messagings(text: str, oslo_str: str) -> None:
    assert str(parse(text)) == oslo_str


def test_urls_urllib_gives_a_scheme_are_accepted() -> None:
    for text in ("fake:", "fake:/", "rabbit:///"):
        url = parse(text)
        assert url.hosts == []
        assert url.virtual_host == ("" if text.endswith("/") else None)
    conf = cfg.ConfigOpts()
    conf([])
    for text in ("fake:", "fake:/"):
        transport = rpcmsg.get_rpc_transport(conf, text)
        assert transport.url.transport == "fake"
        transport.cleanup()


def test_equality_and_hash_ignore_the_query() -> None:
    a = parse("fake:/vhost1/localhost:5672/?x=1&y=2")
    b = parse("fake:/vhost1/localhost:5672/?l=1")
    c = parse("fake:/vhost2/localhost:5672/?x=1&y=2")
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2


def test_repr_is_oslo_form_with_password_masked() -> None:
    url = parse("rabbit://u:p@h:5672/vh")
    assert repr(url) == (
        "<TransportURL transport='rabbit', virtual_host='vh', hosts=[<TransportHost "
        "hostname='h', port=5672, username='u', password='****'>]>"
    )


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
        parse("h1")


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
