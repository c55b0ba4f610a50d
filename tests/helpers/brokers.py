"""Brokers that misbehave, for deadline tests: one that takes connections and never answers,
and a forwarder that delays every byte on its way to a real broker.

(The fault suite's full TCP proxy, which also drops and resets, is ``tests/faults/proxy.py``.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

__all__ = ["silent_broker", "slow_broker"]


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.1)
    return sock


def _serve(sock: socket.socket, stop: threading.Event, handle: object) -> threading.Thread:
    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            handle(conn)  # type: ignore[operator]

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def silent_broker() -> Iterator[int]:
    """A port that accepts TCP connections, reads what it is sent and never answers (a hung
    broker, or one blackholed after the handshake of TCP). Yields the port."""
    sock = _listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def hold(conn: socket.socket) -> None:
        held.append(conn)  # never read: the client's writes fill the buffers, then block

    thread = _serve(sock, stop, hold)
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()
        for conn in held:
            conn.close()


@contextlib.contextmanager
def slow_broker(port: int, delay: float) -> Iterator[int]:
    """A port forwarding to the broker on ``port``, each chunk of bytes, both ways, held
    ``delay`` seconds first. Yields the port."""
    sock = _listen()
    stop = threading.Event()
    conns: list[socket.socket] = []

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while not stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def forward(conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)
        conns.extend((conn, upstream))
        threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()

    thread = _serve(sock, stop, forward)
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
