"""The asyncio RabbitMQ driver against RabbitMQ's own TLS listener (the node and
certificates of ``tests/amqp/test_tls_live.py``: a CA of the test's, a certificate naming
``localhost`` only, client certificates required)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import pytest

import rpcmsg
import rpcmsg.asyncio as aio
from tests.aioamqp.conftest import run
from tests.aioamqp.test_api import AsyncEcho
from tests.amqp.test_tls_live import TLSNode, tls_node  # noqa: F401 - the shared node
from tests.drivers import DriverEnv

pytestmark = pytest.mark.amqp


def causes(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__


async def echo_through(rabbit: DriverEnv, url: str) -> object:
    topic = rabbit.unique()
    transport = aio.get_rpc_transport(rabbit.conf(), url)
    server = aio.get_rpc_server(transport, rpcmsg.Target(topic=topic, server="s"), [AsyncEcho()])
    await server.start()
    try:
        client = aio.get_rpc_client(transport, rpcmsg.Target(topic=topic), timeout=10)
        return await client.call({}, "echo", value="tls")
    finally:
        await server.stop()
        await server.wait()
        await transport.cleanup()


def refused(rabbit: DriverEnv, url: str) -> rpcmsg.MessagingException:
    """The error a cast with ``retry=0`` gets: at once, an rpcmsg exception."""

    async def cast() -> rpcmsg.MessagingException:
        transport = aio.get_rpc_transport(rabbit.conf(), url)
        client = aio.get_rpc_client(transport, rpcmsg.Target(topic="t"), retry=0)
        try:
            async with asyncio.timeout(10):
                with pytest.raises(rpcmsg.MessagingException) as info:
                    await client.cast({}, "record", value=1)
            return info.value
        finally:
            await transport.cleanup()

    return run(cast())


def test_a_verified_broker_serves_calls_over_tls(
    rabbit: DriverEnv,
    tls_node: TLSNode,  # noqa: F811
) -> None:
    url = tls_node.url(ssl_ca_file=tls_node.certs.ca, **tls_node.client_cert())
    assert run(echo_through(rabbit, url)) == "tls"
    pinned = tls_node.url(
        ssl_version="TLSv1_2", ssl_ca_file=tls_node.certs.ca, **tls_node.client_cert()
    )
    assert run(echo_through(rabbit, pinned)) == "tls"
    # RabbitMQ refuses TLS 1.0 (and this client's OpenSSL may refuse it too).
    old = tls_node.url(ssl_version="tlsv1", ssl_ca_file=tls_node.certs.ca, **tls_node.client_cert())
    assert any(isinstance(e, ssl.SSLError) for e in causes(refused(rabbit, old)))


def test_the_broker_certificate_is_verified_by_default(
    rabbit: DriverEnv,
    tls_node: TLSNode,  # noqa: F811
) -> None:
    # Without a CA file the system's CAs verify it: they do not know the test's CA.
    error = refused(rabbit, tls_node.url(**tls_node.client_cert()))
    assert any(isinstance(e, ssl.SSLCertVerificationError) for e in causes(error)), error


def test_the_host_name_is_checked_unless_turned_off(
    rabbit: DriverEnv,
    tls_node: TLSNode,  # noqa: F811
) -> None:
    trusted = {"ssl_ca_file": tls_node.certs.ca, **tls_node.client_cert()}
    error = refused(rabbit, tls_node.url("127.0.0.1", **trusted))
    assert "mismatch" in " ".join(str(e) for e in causes(error)), error
    unchecked = tls_node.url("127.0.0.1", ssl_enforce_hostname_verification="false", **trusted)
    assert run(echo_through(rabbit, unchecked)) == "tls"


def test_a_client_certificate_is_presented(
    rabbit: DriverEnv,
    tls_node: TLSNode,  # noqa: F811
) -> None:
    error = refused(rabbit, tls_node.url(ssl_ca_file=tls_node.certs.ca))  # none given
    # TLS 1.3: the broker's alert ("certificate required") or its closing the handshake,
    # whichever the client reads first.
    assert any(isinstance(e, ssl.SSLError) or "reset" in str(e) for e in causes(error)), error
