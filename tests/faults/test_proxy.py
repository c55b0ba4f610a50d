"""The fault proxy itself, in front of a local echo server: each fault does what it says."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy, proxied_url

pytestmark = pytest.mark.faults


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP server echoing what it reads, on a free port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                with contextlib.suppress(OSError):
                    conn.sendall(data)

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    listener.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[FaultProxy]:
    with FaultProxy(echo_port) as p:
        yield p


def _connect(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.settimeout(2)
    return sock


def _echo(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def test_forwards_and_drop_closes(proxy: FaultProxy) -> None:
    sock = _connect(proxy)
    assert _echo(sock, b"hello") == b"hello"
    assert proxy.drop() == 1
    assert sock.recv(10) == b""  # an orderly close, not a reset
    assert _echo(_connect(proxy), b"again") == b"again"


def test_reset_sends_rst(proxy: FaultProxy) -> None:
    sock = _connect(proxy)
    assert _echo(sock, b"x") == b"x"
    proxy.reset()
    with pytest.raises(ConnectionResetError):
        sock.recv(10)
        sock.sendall(b"y")
        sock.recv(10)


def test_stall_holds_then_heal_delivers(proxy: FaultProxy) -> None:
    sock = _connect(proxy)
    assert _echo(sock, b"a") == b"a"
    proxy.stall()
    sock.sendall(b"held")
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(10)
    assert proxy.connections == 1  # the socket stays open
    # New connections are blackholed too.
    other = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    other.settimeout(0.3)
    other.sendall(b"new")
    with pytest.raises(TimeoutError):
        other.recv(10)
    proxy.heal()
    sock.settimeout(2)
    assert sock.recv(10) == b"held"
    other.settimeout(2)
    assert other.recv(10) == b"new"


def test_stall_one_direction(proxy: FaultProxy) -> None:
    sock = _connect(proxy)
    proxy.stall("down")
    sock.sendall(b"up")
    time.sleep(0.3)
    assert proxy.forwarded["up"] == 2  # went up, its echo is held
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(10)
    proxy.heal()
    sock.settimeout(2)
    assert sock.recv(10) == b"up"


def test_slow_latency_and_bandwidth(proxy: FaultProxy) -> None:
    sock = _connect(proxy)
    proxy.slow(latency=0.2, direction="up")
    start = time.monotonic()
    assert _echo(sock, b"ping") == b"ping"
    assert time.monotonic() - start >= 0.2
    proxy.heal()
    proxy.slow(bandwidth=100_000, direction="down")
    start = time.monotonic()
    assert _echo(sock, b"z" * 50_000) == b"z" * 50_000
    assert time.monotonic() - start >= 0.3


def test_one_side_drop_leaves_the_other_open(proxy: FaultProxy, echo_port: int) -> None:
    sock = _connect(proxy)
    assert _echo(sock, b"a") == b"a"
    proxy.drop("broker")
    # The client's socket stays open and silent: it must notice by itself.
    sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        sock.recv(10)


def test_refuse_then_accept(proxy: FaultProxy) -> None:
    proxy.refuse()
    sock = _connect(proxy)
    assert sock.recv(10) == b""
    proxy.heal()
    assert _echo(_connect(proxy), b"ok") == b"ok"


def test_stop_closes_everything(echo_port: int) -> None:
    proxy = FaultProxy(echo_port).start()
    sock = _connect(proxy)
    proxy.stall()
    proxy.stop()
    assert sock.recv(10) == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1)


def test_proxied_url() -> None:
    assert (
        proxied_url("rabbit://guest:guest@127.0.0.1:5672/vh?x=1", 9)
        == "rabbit://guest:guest@127.0.0.1:9/vh?x=1"
    )
    assert proxied_url("redis://127.0.0.1:6379/0", 7) == "redis://127.0.0.1:7/0"
