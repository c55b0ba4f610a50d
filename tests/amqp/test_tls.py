"""The RabbitMQ driver over TLS: ``ssl`` with CA, client certificate and hostname checks.

The broker here listens in plain text only, so the test puts a TLS-terminating proxy in front
of it (asyncio's TLS server in a thread of the test, requiring a client certificate); the
driver's TLS client, its consumers reading TLS sockets in turns and its publishers all talk
to the real RabbitMQ through it.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from tests.drivers import DriverEnv
from tests.helpers.certs import Certificates, make_certificates
from tests.helpers.processes import EchoRecord

WAIT = 10.0
BROKER = ("127.0.0.1", 5672)


class TLSProxy:
    """Accepts TLS on a free local port and relays each connection to the broker."""

    def __init__(self, certs: Certificates) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certs.server_cert, certs.server_key)
        self.context.load_verify_locations(certs.ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.handshakes_failed = 0
        self.relayed = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> TLSProxy:
        self._thread.start()
        assert self._ready.wait(10), "the TLS proxy did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.relayed += 1
        broker_in, broker_out = await asyncio.open_connection(*BROKER)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, broker_out), pump(broker_in, writer))


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "trusted")


@pytest.fixture
def proxy(certs: Certificates) -> Iterator[TLSProxy]:
    with TLSProxy(certs) as running:
        yield running


def url(proxy: TLSProxy, **query: Any) -> str:
    options = "&".join(f"{k}={v}" for k, v in {"ssl": "true", **query}.items())
    return f"rabbit://guest:guest@127.0.0.1:{proxy.port}/?{options}"


def test_calls_and_casts_over_tls(rabbit: DriverEnv, proxy: TLSProxy, certs: Certificates) -> None:
    rabbit.url = url(
        proxy,
        ssl_ca_file=certs.ca,
        ssl_cert_file=certs.client_cert,
        ssl_key_file=certs.client_key,
    )
    api = EchoRecord()
    topic = rabbit.unique()
    rabbit.server(topic, [api])
    client = rabbit.client(topic, timeout=WAIT)
    for n in range(20):
        assert client.call({}, "echo", value=n) == n
    for n in range(20):
        client.cast({}, "record", value=n)
    deadline = time.monotonic() + WAIT
    while len(api.casts) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(api.casts) == list(range(20))
    assert proxy.relayed >= 3  # listener, replies, publisher: every connection went through


def test_an_untrusted_broker_certificate_is_refused(
    rabbit: DriverEnv, proxy: TLSProxy, certs: Certificates, tmp_path: Path
) -> None:
    other = make_certificates(tmp_path / "other", name="other")
    rabbit.url = url(
        proxy,
        ssl_ca_file=other.ca,  # not the CA that signed the proxy's certificate
        ssl_cert_file=certs.client_cert,
        ssl_key_file=certs.client_key,
    )
    client = rabbit.client(rabbit.unique(), timeout=2, retry=0)
    with pytest.raises(rpcmsg.MessagingException):
        client.cast({}, "record", value=1)


def test_a_missing_client_certificate_is_refused(
    rabbit: DriverEnv, proxy: TLSProxy, certs: Certificates
) -> None:
    rabbit.url = url(proxy, ssl_ca_file=certs.ca)
    client = rabbit.client(rabbit.unique(), timeout=2, retry=0)
    with pytest.raises(rpcmsg.MessagingException):
        client.cast({}, "record", value=1)
