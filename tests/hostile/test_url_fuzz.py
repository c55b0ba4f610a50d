"""URL and configuration fuzzing: ``get_transport`` with hostile URLs and URL query options
either works or raises one of rpcmsg's own exceptions, never a third-party traceback.

No broker is needed: transports connect lazily, and hosts are local ports nobody listens on.
Transports that were built are cleaned up at once.
"""

from __future__ import annotations

import string
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oslo_config import cfg

import rpcmsg
from rpcmsg.opts import register_opts

SCHEMES = ["rabbit", "amqp", "kombu", "redis", "rediss", "redis+sentinel", "fake", "bogus", ""]
#: Options of every driver, with values of the wrong type, out of range, or absurd.
OPTIONS = [
    "heartbeat_timeout_threshold",
    "heartbeat_rate",
    "rabbit_retry_interval",
    "rabbit_qos_prefetch_count",
    "rabbit_confirm_window",
    "kombu_failover_strategy",
    "kombu_compression",
    "ssl",
    "ssl_ca_file",
    "amqp_durable_queues",
    "socket_timeout",
    "socket_connect_timeout",
    "retry_interval",
    "stream_max_length",
    "claim_idle_time",
    "prefetch_count",
    "key_prefix",
    "sentinel_service_name",
    "unknown_option",
]
hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
values = st.one_of(
    hostile_text,
    st.sampled_from(["", "-1", "0", "1e309", "nan", "inf", "yes", "no", "9" * 40, "%ff", "a,b"]),
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
)
hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "[::1", "::1", "", "h" * 300, "%zz"]),
    hostile_text,
)
ports = st.one_of(
    st.none(),
    st.sampled_from(["1", "0", "65536", "99999999999", "-1", "x", "", "9" * 30]),
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(SCHEMES))
    netlocs = []
    for _ in range(draw(st.integers(0, 3))):
        user = draw(st.one_of(st.none(), hostile_text))
        password = draw(st.one_of(st.none(), hostile_text))
        auth = ""
        if user is not None or password is not None:
            auth = urllib.parse.quote(user or "", safe=draw(st.sampled_from(["", ":@/"])))
            if password is not None:
                auth += ":" + urllib.parse.quote(password, safe="")
            auth += "@"
        port = draw(ports)
        netlocs.append(auth + draw(hosts) + (f":{port}" if port is not None else ""))
    paths = st.sampled_from(["", "/", "/0", "/15", "/16", "/vh", "/a/b"])
    path = draw(st.one_of(paths, hostile_text))
    query = draw(st.dictionaries(st.sampled_from(OPTIONS), values, max_size=3))
    text = f"{scheme}://" if scheme else ""
    text += ",".join(netlocs) + path
    if query:
        text += "?" + urllib.parse.urlencode(query)
    return text


raw_urls = st.one_of(
    urls(),
    st.text(alphabet=string.printable, max_size=60),
    st.text(max_size=30).map(lambda t: "rabbit://" + t),
)


def _conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    conf([])
    register_opts(conf)
    return conf


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(url=raw_urls)
def test_get_transport_raises_only_rpcmsg_errors(url: str) -> None:
    try:
        transport = rpcmsg.get_transport(_conf(), url)
    except rpcmsg.MessagingException:
        return
    transport.cleanup()


@settings(max_examples=200, deadline=None, database=None)
@given(url=raw_urls)
def test_transport_url_parse_raises_only_rpcmsg_errors(url: str) -> None:
    try:
        parsed = rpcmsg.TransportURL.parse(_conf(), url)
    except rpcmsg.MessagingException:
        return
    # What parsed prints and masks without error, and parses back.
    str(parsed)
    repr(parsed)
    rpcmsg.TransportURL.parse(_conf(), parsed.to_string(mask=False))
