"""``rediss://`` against a real TLS Redis: a ``redis-server`` started by the test on a free
port, with a certificate authority, server and client certificates made by ``openssl``,
requiring clients to present a certificate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from tests.drivers import REDIS_URL
from tests.helpers.certs import make_certificates
from tests.helpers.processes import EchoRecord, free_port, need, server_process
from tests.redis.conftest import RedisEnv


@dataclass(frozen=True)
class TLSRedis:
    port: int
    ca: Path
    cert: Path
    key: Path

    def url(self, **query: Any) -> str:
        options = "&".join(f"{k}={v}" for k, v in query.items())
        return f"rediss://127.0.0.1:{self.port}/0" + (f"?{options}" if options else "")

    def trusted_url(self) -> str:
        return self.url(ssl_ca_file=self.ca, ssl_cert_file=self.cert, ssl_key_file=self.key)


@pytest.fixture
def tls_redis(tmp_path: Path, renv: RedisEnv) -> Iterator[TLSRedis]:
    server_binary = need("redis-server")
    certs = make_certificates(tmp_path)
    port = free_port()
    tls = {
        "--tls-port": str(port),
        "--tls-cert-file": str(certs.server_cert),
        "--tls-key-file": str(certs.server_key),
        "--tls-ca-cert-file": str(certs.ca),
        "--tls-auth-clients": "yes",
    }
    plain = {"--port": "0", "--bind": "127.0.0.1", "--save": "", "--appendonly": "no"}
    args = [item for pair in {**plain, **tls, "--dir": str(tmp_path)}.items() for item in pair]
    try:
        with server_process([server_binary, *args], port, "the TLS Redis"):
            yield TLSRedis(port, certs.ca, certs.client_cert, certs.client_key)
    finally:
        renv.url = REDIS_URL  # the purge after the test reaches the usual Redis


def test_rpc_and_notifications_over_tls(renv: RedisEnv, tls_redis: TLSRedis) -> None:
    renv.url = tls_redis.trusted_url()
    api = EchoRecord()
    topic = renv.unique()
    renv.server(topic, [api])
    client = renv.client(topic, timeout=10)
    assert client.call({}, "echo", value="over TLS") == "over TLS"
    client.cast({}, "record", value=1)
    deadline = time.monotonic() + 10
    while not api.casts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.casts == [1]
    # Nothing of it reached the plain-text Redis the other tests use.
    assert not renv.keys()


@pytest.mark.parametrize("missing", ["ca", "client certificate"])
def test_tls_without_trust_fails_clearly(renv: RedisEnv, tls_redis: TLSRedis, missing: str) -> None:
    if missing == "ca":  # the server's certificate cannot be verified
        renv.url = tls_redis.url(ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key)
    else:  # the server asks for a client certificate
        renv.url = tls_redis.url(ssl_ca_file=tls_redis.ca)
    client = renv.client(renv.unique(), timeout=3, retry=0)
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingException):
        client.call({}, "echo", value=1)
    assert time.monotonic() - started < 15
