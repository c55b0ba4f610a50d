"""``rediss://`` against a real TLS Redis: a ``redis-server`` started by the test on a free
port, with a certificate authority, server and client certificates made by ``openssl``,
requiring clients to present a certificate."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from tests.drivers import IN_CI, REDIS_URL
from tests.redis.conftest import RedisEnv
from tests.redis.test_sentinel_live import _free_port


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


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        if IN_CI:
            pytest.fail(f"{binary} is needed to test TLS")
        pytest.skip(f"{binary} not installed")
    return path


def _certificates(openssl: str, where: Path) -> tuple[Path, Path, Path, Path, Path]:
    """A CA, and a server and a client certificate signed by it."""

    def run(command: str, *subject: str) -> None:
        args = [openssl, *command.split(), *subject]
        subprocess.run(args, cwd=where, check=True, capture_output=True)

    new_key = "req -newkey rsa:2048 -nodes"
    run(f"{new_key} -x509 -days 2 -keyout ca.key -out ca.crt", "-subj", "/CN=test CA")
    (where / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    sign = "-CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf"
    for name in ("server", "client"):
        run(f"{new_key} -keyout {name}.key -out {name}.csr", "-subj", f"/CN={name}")
        run(f"x509 -req -in {name}.csr {sign} -out {name}.crt")
    return (
        where / "ca.crt",
        where / "server.crt",
        where / "server.key",
        where / "client.crt",
        where / "client.key",
    )


@pytest.fixture
def tls_redis(tmp_path: Path, renv: RedisEnv) -> Iterator[TLSRedis]:
    server_binary, openssl = _need("redis-server"), _need("openssl")
    ca, server_crt, server_key, client_crt, client_key = _certificates(openssl, tmp_path)
    port = _free_port()
    tls = {
        "--tls-port": str(port),
        "--tls-cert-file": str(server_crt),
        "--tls-key-file": str(server_key),
        "--tls-ca-cert-file": str(ca),
        "--tls-auth-clients": "yes",
    }
    plain = {"--port": "0", "--bind": "127.0.0.1", "--save": "", "--appendonly": "no"}
    args = [item for pair in {**plain, **tls, "--dir": str(tmp_path)}.items() for item in pair]
    proc = subprocess.Popen(
        [server_binary, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"the TLS Redis did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield TLSRedis(port, ca, client_crt, client_key)
    finally:
        renv.url = REDIS_URL  # the purge after the test reaches the usual Redis
        proc.terminate()
        proc.wait(10)


class Api:
    def __init__(self) -> None:
        self.casts: list[Any] = []

    def echo(self, ctxt: Any, value: Any) -> Any:
        return value

    def record(self, ctxt: Any, value: Any) -> None:
        self.casts.append(value)


def test_rpc_and_notifications_over_tls(renv: RedisEnv, tls_redis: TLSRedis) -> None:
    renv.url = tls_redis.trusted_url()
    api = Api()
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
