"""``rediss://`` against a real TLS Redis: a ``redis-server`` started by the test on a free
port, with a certificate authority, server and client certificates made by ``openssl``,
requiring clients to present a certificate. The server's certificate names ``localhost``
only, so ``127.0.0.1`` is a host name mismatch."""

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
from tests.helpers.certs import refused as refused_by_peer
from tests.helpers.processes import EchoRecord, free_port, need, server_process
from tests.redis.conftest import RedisEnv


@dataclass(frozen=True)
class TLSRedis:
    port: int
    ca: Path
    cert: Path
    key: Path

    def url(self, host: str = "localhost", **query: Any) -> str:
        options = "&".join(f"{k}={v}" for k, v in query.items())
        return f"rediss://{host}:{self.port}/0" + (f"?{options}" if options else "")

    def trusted_url(self) -> str:
        return self.url(ssl_ca_file=self.ca, ssl_cert_file=self.cert, ssl_key_file=self.key)


@pytest.fixture
def tls_redis(tmp_path: Path, renv: RedisEnv) -> Iterator[TLSRedis]:
    server_binary = need("redis-server")
    certs = make_certificates(tmp_path, names="DNS:localhost")
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


def refused(renv: RedisEnv) -> rpcmsg.MessagingException:
    """The error of a call to a TLS Redis that refuses the connection: at once, an rpcmsg
    exception."""
    client = renv.client(renv.unique(), timeout=3, retry=0)
    return refused_by_peer(lambda: client.call({}, "echo", value=1), within=15)


def test_without_a_ca_file_the_system_cas_verify_the_server(
    renv: RedisEnv, tls_redis: TLSRedis
) -> None:
    # The system's CAs do not know the test's CA: refused, verification is on by default.
    renv.url = tls_redis.url(ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key)
    assert "certificate verify failed" in str(refused(renv))


def test_without_a_ca_file_a_server_the_system_trusts_is_verified_with_its_name(
    renv: RedisEnv, tls_redis: TLSRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenSSL's default verify paths honour SSL_CERT_FILE: the system's CAs are the test's.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_redis.ca))
    renv.url = tls_redis.url(ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key)
    api = EchoRecord()
    topic = renv.unique()
    renv.server(topic, [api])
    assert renv.client(topic, timeout=10).call({}, "echo", value="system") == "system"
    renv.url = tls_redis.url("127.0.0.1", ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key)
    assert "mismatch" in str(refused(renv))


def test_a_certificate_naming_another_host_is_refused(renv: RedisEnv, tls_redis: TLSRedis) -> None:
    renv.url = tls_redis.url(
        "127.0.0.1",
        ssl_ca_file=tls_redis.ca,
        ssl_cert_file=tls_redis.cert,
        ssl_key_file=tls_redis.key,
    )
    assert "mismatch" in str(refused(renv))


def test_ssl_verify_false_accepts_any_certificate(renv: RedisEnv, tls_redis: TLSRedis) -> None:
    renv.url = tls_redis.url(
        "127.0.0.1", ssl_verify="false", ssl_cert_file=tls_redis.cert, ssl_key_file=tls_redis.key
    )
    api = EchoRecord()
    topic = renv.unique()
    renv.server(topic, [api])
    assert renv.client(topic, timeout=10).call({}, "echo", value="any") == "any"


def test_a_server_requiring_a_client_certificate_refuses_none(
    renv: RedisEnv, tls_redis: TLSRedis
) -> None:
    renv.url = tls_redis.url(ssl_ca_file=tls_redis.ca)
    refused(renv)
