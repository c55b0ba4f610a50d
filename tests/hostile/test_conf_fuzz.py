"""Configuration fuzzing: hostile option values set through oslo.config
(``conf.set_override`` on ``[DEFAULT]``, ``[oslo_messaging_rabbit]`` and ``[rpcmsg_redis]``)
either work or fail with one of rpcmsg's own exceptions (or oslo.config's
``ConfigFileValueError``, as oslo.messaging raises it too), never a third-party traceback
(``socket.gaierror``, ``ssl`` errors, redis or amqp exceptions, a ``TypeError`` from inside a
library).

Each example builds a transport with the options drawn, then casts (``retry=0``) and calls
(short timeout) through it to a topic nobody serves on the live broker, so that the values
reach the connection, TLS and retry code. Values oslo.config itself refuses at
``set_override`` (wrong type, out of the option's range or choices) are the caller's own
error, not rpcmsg's, and are left out of the example.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oslo_config import cfg

import rpcmsg
from rpcmsg.exceptions import ConfigurationError
from rpcmsg.opts import list_opts, register_opts
from tests.drivers import make_env

#: The group fuzzed -> the URL of its driver (on the live broker).
GROUPS = {
    None: "fake://",
    "oslo_messaging_rabbit": "rabbit://guest:guest@127.0.0.1:5672/",
    "rpcmsg_redis": "redis://127.0.0.1:6379/0",
}
#: Options left alone: they name processes or queues only (no failure mode of their own),
#: or would make the example hang on purpose (a broker URL is not an option value).
SKIPPED = {"transport_url"}

#: Options of each fuzzed group, as (name, type name).
OPTIONS: dict[str | None, list[tuple[str, str]]] = {
    group: [(opt.name, type(opt.type).__name__) for opt in opts if opt.name not in SKIPPED]
    for group, opts in list_opts()
    if group in GROUPS
}

hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
numbers = st.one_of(
    st.sampled_from(["-1", "0", "1e309", "-1e309", "nan", "inf", "9" * 40, "x", "", "0.0001"]),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([2**31, 2**63, 10**9, 1, 3600 * 24 * 365]),
    st.floats(allow_nan=True, allow_infinity=True),
)
paths = st.sampled_from(
    ["/nonexistent/ca.pem", "/etc/passwd", "/", "/dev/null", "", "\x00", "relative.pem"]
)
VALUES: dict[str, Any] = {
    "Integer": numbers,
    "Float": numbers,
    "Port": numbers,
    "Boolean": st.one_of(st.booleans(), st.sampled_from(["maybe", "", "2"])),
    "String": st.one_of(hostile_text, paths, st.sampled_from(["h" * 300, "TLSv9", "a,b"])),
    "List": st.lists(hostile_text, max_size=3),
    "MultiString": st.lists(hostile_text, max_size=3),
    "HostAddress": st.sampled_from(["", "::1:", "h" * 300, "256.0.0.1"]),
}


@st.composite
def overrides(draw: st.DrawFn) -> tuple[str | None, list[tuple[str, Any]]]:
    group = draw(st.sampled_from(sorted(GROUPS, key=str)))
    chosen = draw(st.lists(st.sampled_from(OPTIONS[group]), min_size=1, max_size=3, unique=True))
    return group, [(name, draw(VALUES[kind])) for name, kind in chosen]


def _conf() -> cfg.ConfigOpts:
    """A configuration with every option of rpcmsg and its drivers registered (drivers
    register theirs when loaded; overriding them first needs them registered)."""
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
    return conf


def _attempt(conf: cfg.ConfigOpts, url: str, exchange: str) -> None:
    transport = rpcmsg.get_rpc_transport(conf, url)
    try:
        target = rpcmsg.Target(topic=f"fuzz-{uuid.uuid4().hex[:8]}", exchange=exchange)
        client = rpcmsg.get_rpc_client(transport, target, timeout=0.3, retry=0)
        for send in (
            lambda: client.cast({}, "nothing", value=1),
            lambda: client.call({}, "nothing", value=1),
        ):
            try:
                send()
            except rpcmsg.MessagingTimeout:
                pass
    finally:
        transport.cleanup()


@pytest.fixture(scope="module")
def exchange() -> Any:
    env = make_env("redis")  # skips without the brokers locally, fails in CI
    make_env("rabbit")
    yield env.exchange
    env.close()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(drawn=overrides())
def test_hostile_option_values_give_rpcmsg_errors_only(
    exchange: str, drawn: tuple[str | None, list[tuple[str, Any]]]
) -> None:
    group, values = drawn
    conf = _conf()
    for name, value in values:
        try:
            conf.set_override(name, value, group=group)
        except (ValueError, TypeError, OverflowError, cfg.Error):
            continue  # oslo.config refused it: the caller's own error, not rpcmsg's
    try:
        _attempt(conf, GROUPS[group], exchange)
    except (rpcmsg.MessagingException, cfg.ConfigFileValueError):
        pass


#: Numbers no clock, socket or lock timeout can hold.
BEYOND = [math.inf, math.nan, 1e300, float(2**31)]
BAD_FILES = ["/nonexistent/ca.pem", "/etc/passwd", "/", "/dev/null", "relative.pem"]
#: (group, URL, the options turning TLS on) per driver; the brokers' ports here are plain TCP.
TLS = {
    "rabbit": ("oslo_messaging_rabbit", GROUPS["oslo_messaging_rabbit"], {"ssl": True}),
    "redis": ("rpcmsg_redis", "rediss://127.0.0.1:6379/0", {}),
}


@pytest.mark.parametrize("which", ["ssl_ca_file", "ssl_cert_file", "ssl_key_file"])
@pytest.mark.parametrize("path", BAD_FILES)
@pytest.mark.parametrize("driver", sorted(TLS))
def test_bad_tls_files_give_rpcmsg_errors_only(
    exchange: str, driver: str, path: str, which: str
) -> None:
    group, url, extra = TLS[driver]
    conf = _conf()
    for name, value in {**extra, which: path}.items():
        conf.set_override(name, value, group=group)
    if which == "ssl_key_file":
        conf.set_override("ssl_cert_file", "/etc/passwd", group=group)
    try:
        _attempt(conf, url, exchange)
    except (rpcmsg.MessagingException, cfg.ConfigFileValueError):
        pass


@pytest.mark.parametrize(
    ("group", "name", "url", "value"),
    [
        *(("rpcmsg_redis", "socket_timeout", GROUPS["rpcmsg_redis"], v) for v in BEYOND),
        (
            "oslo_messaging_rabbit",
            "heartbeat_timeout_threshold",
            GROUPS["oslo_messaging_rabbit"],
            2**31,
        ),
        ("oslo_messaging_rabbit", "rabbit_interval_max", GROUPS["oslo_messaging_rabbit"], 10**12),
    ],
)
def test_numbers_no_clock_can_hold_are_refused_clearly(
    group: str, name: str, url: str, value: float
) -> None:
    conf = _conf()
    conf.set_override(name, value, group=group)
    with pytest.raises(ConfigurationError, match=name):
        rpcmsg.get_rpc_transport(conf, url).cleanup()
    with pytest.raises(rpcmsg.InvalidTransportURL, match=name):
        rpcmsg.get_rpc_transport(_conf(), f"{url}?{name}={value}").cleanup()
