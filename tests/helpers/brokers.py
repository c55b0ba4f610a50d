"""Brokers that misbehave, for deadline tests: one that takes connections and never answers,
a forwarder that delays every byte on its way to a real broker, and one that forwards until
the client sends a given command, then blackholes that connection mid-command.

(The fault suite's full TCP proxy, which also drops and resets, is ``tests/faults/proxy.py``.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

__all__ = ["blackhole_at", "silent_broker", "slow_broker"]


@contextlib.contextmanager
def _serving(handle: Callable[[socket.socket], list[socket.socket]]) -> Iterator[int]:
    """Accept connections on a free local port, passing each to ``handle``, which returns
    the sockets to close at the end; yields the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.1)
    stop = threading.Event()
    opened: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            opened.extend(handle(conn))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()
        for conn in opened:
            with contextlib.suppress(OSError):
                conn.close()


def silent_broker() -> contextlib.AbstractContextManager[int]:
    """A port that accepts TCP connections and never reads or answers (a hung broker, or
    one blackholed after the handshake of TCP). Yields the port."""
    return _serving(lambda conn: [conn])  # held open, never read


def slow_broker(port: int, delay: float) -> contextlib.AbstractContextManager[int]:
    """A port forwarding to the broker on ``port``, each chunk of bytes, both ways, held
    ``delay`` seconds first. Yields the port."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
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

    def forward(conn: socket.socket) -> list[socket.socket]:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return [conn]
        upstream.settimeout(None)
        threading.Thread(target=pump, args=(conn, upstream), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        return [conn, upstream]

    return _serving(forward)


def blackhole_at(
    port: int, marker: bytes, armed: threading.Event | None = None
) -> contextlib.AbstractContextManager[int]:
    """A port forwarding to the broker on ``port`` until the client sends a chunk holding
    ``marker`` (e.g. ``b"SCRIPT"``), once ``armed`` is set (default: at once): from then
    on that connection is a blackhole, nothing forwarded either way, the sockets held
    open. Other connections carry on. Yields the port."""

    def forward(conn: socket.socket) -> list[socket.socket]:
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return [conn]
        upstream.settimeout(None)
        dead = threading.Event()

        def pump(src: socket.socket, dst: socket.socket, watch: bool) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if watch and marker in data and (armed is None or armed.is_set()):
                        dead.set()
                    if dead.is_set():
                        continue  # swallowed: the connection hangs mid-command
                    dst.sendall(data)

        threading.Thread(target=pump, args=(conn, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, conn, False), daemon=True).start()
        return [conn, upstream]

    return _serving(forward)
