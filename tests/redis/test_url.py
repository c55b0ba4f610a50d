"""URL forms and options of the Redis driver, checked without talking to Redis.

A live Sentinel is not available in this environment: the Sentinel form is checked down to
the redis-py Sentinel configuration the driver builds, not against a running Sentinel.
"""

from __future__ import annotations

import pytest
import redis
import redis.sentinel
from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts

pytest.importorskip("rpcmsg_drivers.redis")

from rpcmsg_drivers.redis import RedisDriver


def _driver(url: str) -> RedisDriver:
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    conf.set_override("control_exchange", "ex")
    transport = rpcmsg.get_rpc_transport(conf, url)
    driver = transport.driver
    assert isinstance(driver, RedisDriver)
    return driver


def test_every_scheme_loads_the_redis_driver_without_connecting() -> None:
    for scheme in ("redis", "rediss", "redis+sentinel"):
        # Port 1 refuses connections: building the transport must not try.
        assert isinstance(_driver(f"{scheme}://127.0.0.1:1/0"), RedisDriver)


def test_password_host_port_and_db() -> None:
    config = _driver("redis://:s3cret@cache.example:6380/3").connection
    assert config.hosts == (("cache.example", 6380),)
    assert config.db == 3 and config.namespace is None
    assert config.kwargs["password"] == "s3cret" and config.kwargs["username"] is None
    assert not config.tls


def test_username_and_defaults() -> None:
    config = _driver("redis://app:pw@/").connection
    assert config.hosts == (("127.0.0.1", 6379),)
    assert config.db == 0
    assert (config.kwargs["username"], config.kwargs["password"]) == ("app", "pw")


def test_named_virtual_host_scopes_the_keys() -> None:
    driver = _driver("redis://127.0.0.1/tenant-a")
    assert driver.connection.db == 0
    assert driver.keys().topic("t") == "rpcmsg:tenant-a:ex:q:t"
    assert _driver("redis://127.0.0.1/2").keys("other").topic("t") == "rpcmsg:other:q:t"


def test_rediss_uses_tls_with_the_configured_files() -> None:
    driver = _driver(
        "rediss://h:6390/0?ssl_ca_file=/etc/ca.pem&ssl_cert_file=/c.pem"
        "&ssl_key_file=/k.pem&ssl_verify=false"
    )
    assert driver.connection.tls
    pool = driver._factory.shared.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection)
    kwargs = pool.connection_kwargs
    assert (kwargs["ssl_ca_certs"], kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == (
        "/etc/ca.pem",
        "/c.pem",
        "/k.pem",
    )
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["ssl_check_hostname"] is False
    assert _driver("rediss://h/0").connection.kwargs["ssl_cert_reqs"] == "required"


def test_sentinel_url_builds_a_redis_py_sentinel() -> None:
    driver = _driver(
        "redis+sentinel://:masterpw@s1:26380,s2/4"
        "?sentinel_service_name=cache&sentinel_password=sentpw"
    )
    config = driver.connection
    assert config.sentinel and config.hosts == (("s1", 26380), ("s2", 26379))
    assert config.service_name == "cache" and config.db == 4
    sentinel = driver._factory._sentinel
    assert isinstance(sentinel, redis.sentinel.Sentinel)
    sentinels = [s.connection_pool.connection_kwargs for s in sentinel.sentinels]
    assert [(k["host"], k["port"]) for k in sentinels] == [("s1", 26380), ("s2", 26379)]
    assert {k["password"] for k in sentinels} == {"sentpw"}
    pool = driver._factory.shared.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert pool.service_name == "cache"
    assert pool.connection_kwargs["password"] == "masterpw"
    assert pool.connection_kwargs["db"] == 4


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://a:6379,b:6379/0", "one host"),
        ("redis://h/0?stream_max_length=lots", "stream_max_length"),
        ("redis://h/0?claim_idle_time=soon", "claim_idle_time"),
    ],
)
def test_bad_urls_are_reported(url: str, problem: str) -> None:
    with pytest.raises(rpcmsg.InvalidTransportURL, match=problem):
        _driver(url)


def test_url_query_overrides_the_option_group() -> None:
    driver = _driver("redis://h/0?stream_max_length=77&claim_idle_time=2.5&prefetch_count=3")
    settings = driver.settings
    assert (settings.stream_max_length, settings.claim_idle_time, settings.prefetch_count) == (
        77,
        2.5,
        3,
    )
    assert _driver("redis://h/0").settings.stream_max_length == 10000
