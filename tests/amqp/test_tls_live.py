"""The RabbitMQ driver against RabbitMQ's own TLS listener.

The test set-up starts a RabbitMQ node of its own (tests/helpers/rabbit_node.py) with a TLS
listener whose certificate is signed by a CA made for the test and names ``localhost`` only
(not ``127.0.0.1``), requiring clients to present a certificate signed by that CA. So:
``localhost`` with the CA file is trusted; no CA file means the system's CAs, which do not
know the test's CA (verification is on by default); ``127.0.0.1`` is a host name mismatch.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from rpcmsg.exceptions import TLSVerificationError
from tests.drivers import DriverEnv
from tests.helpers.certs import Certificates, make_certificates
from tests.helpers.certs import refused as refused_by_peer
from tests.helpers.processes import EchoRecord
from tests.helpers.rabbit_node import RabbitNode, rabbit_nodes

WAIT = 10.0


class TLSNode:
    def __init__(self, node: RabbitNode, certs: Certificates) -> None:
        self.node = node
        self.certs = certs

    def url(self, host: str = "localhost", **query: Any) -> str:
        options = "&".join(f"{k}={v}" for k, v in {"ssl": "true", **query}.items())
        return f"rabbit://guest:guest@{host}:{self.node.tls_port}/?{options}"

    def client_cert(self) -> dict[str, Any]:
        return {"ssl_cert_file": self.certs.client_cert, "ssl_key_file": self.certs.client_key}


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSNode]:
    root = tmp_path_factory.mktemp("rabbit-tls")
    certs = make_certificates(root / "certs", names="DNS:localhost")

    def config(node: RabbitNode) -> str:
        return (
            f"listeners.ssl.default = 127.0.0.1:{node.tls_port}\n"
            f"ssl_options.cacertfile = {certs.ca}\n"
            f"ssl_options.certfile = {certs.server_cert}\n"
            f"ssl_options.keyfile = {certs.server_key}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = true\n"
        )

    with rabbit_nodes(root, "rpcmsg-tls", 1, config) as (node,):
        node.wait_started(port=node.tls_port)
        yield TLSNode(node, certs)


def refused(env: DriverEnv) -> rpcmsg.MessagingException:
    """The error a cast gets when the TLS connection is refused; it must come at once
    (``retry=0``), as an rpcmsg exception, never a raw ssl or py-amqp one."""
    client = env.client(env.unique(), timeout=3, retry=0)
    return refused_by_peer(lambda: client.cast({}, "record", value=1))


def causes(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__


def test_a_verified_broker_serves_calls_and_casts(rabbit: DriverEnv, tls_node: TLSNode) -> None:
    rabbit.url = tls_node.url(ssl_ca_file=tls_node.certs.ca, **tls_node.client_cert())
    api = EchoRecord()
    topic = rabbit.unique()
    rabbit.server(topic, [api])
    client = rabbit.client(topic, timeout=WAIT)
    for n in range(10):
        assert client.call({}, "echo", value=n) == n
    for n in range(10):
        client.cast({}, "record", value=n)
    deadline = time.monotonic() + WAIT
    while len(api.casts) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(api.casts) == list(range(10))
    # Every connection is RabbitMQ's TLS, with the client certificate presented.
    connections = tls_node.node.ctl(
        "list_connections", "ssl", "peer_cert_subject", "-q", "--no-table-headers"
    )
    rows = [line.split("\t") for line in connections.strip().splitlines()]
    assert len(rows) >= 3, connections
    assert all(row[0] == "true" and "test client" in row[1] for row in rows), connections


@pytest.mark.parametrize("hostname_check", ["true", "false"])
def test_without_a_ca_file_the_system_cas_verify_the_broker(
    rabbit: DriverEnv, tls_node: TLSNode, hostname_check: str
) -> None:
    # The system's CAs do not know the test's CA: verification on by default refuses it,
    # whether host names are checked or not.
    rabbit.url = tls_node.url(
        ssl_enforce_hostname_verification=hostname_check, **tls_node.client_cert()
    )
    error = refused(rabbit)
    assert "certificate verify failed" in str(error)
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(error))


def test_without_a_ca_file_a_broker_the_system_trusts_is_verified_with_its_name(
    rabbit: DriverEnv, tls_node: TLSNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenSSL's default verify paths honour SSL_CERT_FILE: here the system's CAs are the
    # test's CA, so the broker is trusted without ssl_ca_file, and its name is still checked.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_node.certs.ca))
    rabbit.url = tls_node.url(**tls_node.client_cert())
    topic = rabbit.unique()
    rabbit.server(topic, [EchoRecord()])
    assert rabbit.client(topic, timeout=WAIT).call({}, "echo", value="system") == "system"
    rabbit.url = tls_node.url("127.0.0.1", **tls_node.client_cert())
    assert "mismatch" in str(refused(rabbit))


def test_a_certificate_naming_another_host_is_refused(rabbit: DriverEnv, tls_node: TLSNode) -> None:
    rabbit.url = tls_node.url("127.0.0.1", ssl_ca_file=tls_node.certs.ca, **tls_node.client_cert())
    error = refused(rabbit)
    assert "mismatch" in str(error), error


def test_the_host_name_check_can_be_turned_off(rabbit: DriverEnv, tls_node: TLSNode) -> None:
    rabbit.url = tls_node.url(
        "127.0.0.1",
        ssl_ca_file=tls_node.certs.ca,
        ssl_enforce_hostname_verification="false",
        **tls_node.client_cert(),
    )
    api = EchoRecord()
    topic = rabbit.unique()
    rabbit.server(topic, [api])
    assert rabbit.client(topic, timeout=WAIT).call({}, "echo", value="x") == "x"


def test_a_broker_requiring_a_client_certificate_refuses_none(
    rabbit: DriverEnv, tls_node: TLSNode
) -> None:
    rabbit.url = tls_node.url(ssl_ca_file=tls_node.certs.ca)
    # TLS 1.3: the broker's alert ("certificate required") or its closing the handshake,
    # whichever the client reads first.
    assert any(isinstance(e, ssl.SSLError) for e in causes(refused(rabbit)))


def test_a_client_certificate_of_another_ca_is_refused(
    rabbit: DriverEnv, tls_node: TLSNode, tmp_path: Path
) -> None:
    other = make_certificates(tmp_path, name="other")
    rabbit.url = tls_node.url(
        ssl_ca_file=tls_node.certs.ca,
        ssl_cert_file=other.client_cert,
        ssl_key_file=other.client_key,
    )
    assert any(isinstance(e, ssl.SSLError) for e in causes(refused(rabbit)))


def test_ssl_version_pins_the_protocol(rabbit: DriverEnv, tls_node: TLSNode) -> None:
    trusted = {"ssl_ca_file": tls_node.certs.ca, **tls_node.client_cert()}
    rabbit.url = tls_node.url(ssl_version="TLSv1_2", **trusted)
    topic = rabbit.unique()
    rabbit.server(topic, [EchoRecord()])
    assert rabbit.client(topic, timeout=WAIT).call({}, "echo", value=12) == 12
    # RabbitMQ refuses TLS 1.0 (and this client's OpenSSL may refuse it too).
    rabbit.url = tls_node.url(ssl_version="tlsv1", **trusted)
    assert any(isinstance(e, ssl.SSLError) for e in causes(refused(rabbit)))


def test_an_unknown_ssl_version_is_a_clear_error(rabbit: DriverEnv, tls_node: TLSNode) -> None:
    rabbit.url = tls_node.url(ssl_version="TLSv9", ssl_ca_file=tls_node.certs.ca)
    with pytest.raises(rpcmsg.DriverLoadFailure, match="Invalid ssl_version 'TLSv9'"):
        rabbit.transport()


def finished_within(send: Any, within: float) -> BaseException:
    """The exception ``send()`` raised, failing unless it came within ``within`` seconds
    (run in a thread: a send that retries for ever must fail the test, not hang it)."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still trying after {within} s"
    assert outcome, "no error"
    assert time.monotonic() - started < within
    return outcome[0]


def assert_untrusted(error: BaseException, option: str) -> None:
    # A cast's error comes as oslo.messaging's ClientSendError, a server's as its
    # ServerListenError; either carries the driver's error (``ex``, and as its cause).
    if isinstance(error, (rpcmsg.ClientSendError, rpcmsg.ServerListenError)):
        assert error.__cause__ is error.ex
        error = error.ex
    assert isinstance(error, TLSVerificationError), repr(error)
    assert "localhost" in str(error) or "127.0.0.1" in str(error), error
    assert option in str(error), error
    assert "certificate verify failed" in str(error), error
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


# With the default ``retry`` (for ever) and a long timeout, a certificate that does not verify
# is not retried like an unreachable broker: calls, casts and servers fail at once, naming it.
UNTRUSTED = {
    "unknown CA": ("localhost", {}, "ssl_ca_file"),
    "name mismatch": ("127.0.0.1", {"with_ca": True}, "ssl_enforce_hostname_verification"),
}


@pytest.mark.parametrize("case", list(UNTRUSTED))
def test_an_untrusted_broker_fails_calls_casts_and_servers_at_once(
    rabbit: DriverEnv, tls_node: TLSNode, case: str
) -> None:
    host, flags, option = UNTRUSTED[case]
    trust = {"ssl_ca_file": tls_node.certs.ca} if flags.get("with_ca") else {}
    rabbit.url = tls_node.url(host, **trust, **tls_node.client_cert())
    topic = rabbit.unique()
    client = rabbit.client(topic, timeout=30)  # default retry: for ever
    assert_untrusted(finished_within(lambda: client.call({}, "echo", value=1), 5.0), option)
    assert_untrusted(finished_within(lambda: client.cast({}, "record", value=1), 5.0), option)
    server = rpcmsg.get_rpc_server(
        rabbit.transport(), rpcmsg.Target(topic=topic, server="s1"), [EchoRecord()]
    )
    error = finished_within(server.start, 5.0)
    assert isinstance(error, rpcmsg.ServerListenError), repr(error)
    assert_untrusted(error, option)
