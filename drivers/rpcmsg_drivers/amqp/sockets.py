"""py-amqp transports whose socket reads and writes end by a deadline.

py-amqp bounds each ``recv`` by the socket's timeout, not a whole frame: once the first bytes
of a frame came it reads on until the frame is complete, so a broker (or a link) sending a
frame a few bytes at a time keeps its reader for as long as it likes. These transports look at
``io_deadline`` (a ``time.monotonic()`` value; ``None``: only the socket's own timeout)
before every ``recv`` and ``send`` on the socket, give each no more than the time left and
raise ``TimeoutError`` (``socket.timeout``) once it has passed. py-amqp keeps the bytes of a
frame read so far when a read times out, so a consumer reads on later where it stopped; a
publisher drops the connection instead (see :mod:`rpcmsg_drivers.amqp.link`).
"""

from __future__ import annotations

import time
from typing import Any

from amqp.transport import SSLTransport, TCPTransport

__all__ = ["BoundedSSLTransport", "BoundedTCPTransport", "bounded_transport"]


class _Bounded:
    """Mixed into a py-amqp transport: socket I/O that ends by ``io_deadline``."""

    sock: Any
    _quick_recv: Any
    _write: Any
    io_deadline: float | None = None

    def _setup_transport(self) -> None:
        super()._setup_transport()  # type: ignore[misc]
        self._plain_recv = self._quick_recv
        self._plain_write = self._write
        self._quick_recv = self._recv_by_deadline
        self._write = self._write_by_deadline

    def _left(self) -> float:
        assert self.io_deadline is not None
        left = self.io_deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("RabbitMQ socket I/O ran past its deadline")
        return left

    def _recv_by_deadline(self, n: int) -> Any:
        if self.io_deadline is None:
            return self._plain_recv(n)
        sock = self.sock
        before = sock.gettimeout()
        left = self._left()
        if before is not None and before <= left:
            return self._plain_recv(n)
        # One recv (or one SSL record read) waits at most its socket's timeout in all.
        sock.settimeout(left)
        try:
            return self._plain_recv(n)
        finally:
            sock.settimeout(before)

    def _write_by_deadline(self, data: Any) -> None:
        if self.io_deadline is None:
            self._plain_write(data)
            return
        sock = self.sock
        before = sock.gettimeout()
        view = memoryview(data).cast("B")
        try:
            while view:
                sock.settimeout(self._left())
                sent = sock.send(view)
                if not sent:
                    raise OSError("Socket closed")
                view = view[sent:]
        finally:
            sock.settimeout(before)


class BoundedTCPTransport(_Bounded, TCPTransport):  # type: ignore[misc]
    """py-amqp's plain TCP transport, bounded by ``io_deadline``."""


class BoundedSSLTransport(_Bounded, SSLTransport):  # type: ignore[misc]
    """py-amqp's TLS transport, bounded by ``io_deadline``."""


def bounded_transport(host: str, connect_timeout: float, ssl: Any = False, **kwargs: Any) -> Any:
    """A bounded transport to ``host``, as ``amqp.transport.Transport`` would make one."""
    cls = BoundedSSLTransport if ssl else BoundedTCPTransport
    return cls(host, connect_timeout=connect_timeout, ssl=ssl, **kwargs)
