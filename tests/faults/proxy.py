"""An in-process TCP fault proxy between rpcmsg and a broker.

``FaultProxy(upstream_port)`` listens on a free local port and forwards every connection to
``127.0.0.1:upstream_port``. A test points a transport URL at ``proxy.port`` (``proxied_url``)
and then breaks the link on purpose while traffic flows:

* ``drop(side)``: close connections (a FIN), as a broker or NAT that gives up on them;
* ``reset(side)``: abort them with a TCP RST (``SO_LINGER`` 0);
* ``stall(direction)``: a blackhole: the sockets stay open but nothing is forwarded (and,
  since the proxy stops reading, the peers' send buffers fill up), new connections included;
* ``slow(latency, bandwidth, direction)``: each chunk is delayed by ``latency`` seconds and
  the link limited to ``bandwidth`` bytes per second;
* ``refuse()``: new connections are accepted and closed at once (a broker that is down);
* ``heal()``: clears stall, slow and refuse; traffic flows again on connections still open.

``side`` is ``"client"`` (the socket to rpcmsg), ``"broker"`` (the socket to the broker) or
``"both"``. Dropping or resetting one side only leaves the other socket open and idle until
the proxy stops (a half-dead link the peer must detect by itself, e.g. with heartbeats).
``direction`` is ``"up"`` (client to broker), ``"down"`` (broker to client) or ``"both"``.

The proxy runs an asyncio loop in a thread of its own; every control is thread-safe and takes
effect before it returns. ``stop()`` (or leaving the ``with`` block) closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["FaultProxy", "proxied_url"]

T = TypeVar("T")

SIDES = ("client", "broker", "both")
DIRECTIONS = ("up", "down", "both")
CHUNK = 65536


def proxied_url(url: str, port: int) -> str:
    """``url`` with the (single) host's port replaced by ``port`` on 127.0.0.1."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    userinfo, _, _ = netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    return urllib.parse.urlunsplit(
        parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host)
    )


@dataclass
class _Shaping:
    """What one direction of the link does to its bytes now."""

    flowing: asyncio.Event
    latency: float = 0.0
    bandwidth: float | None = None


@dataclass(eq=False)
class _Link:
    """One proxied connection: the socket to the client and the socket to the broker."""

    client: asyncio.StreamWriter
    broker: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)


class FaultProxy:
    """A TCP proxy to ``upstream_host:upstream_port`` whose link a test breaks on purpose."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        #: Connections accepted since start, and bytes forwarded per direction.
        self.accepted = 0
        self.forwarded = {"up": 0, "down": 0}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._links: set[_Link] = set()
        self._pending: set[asyncio.StreamWriter] = set()
        self._refusing = False
        self._shaping: dict[str, _Shaping] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        """Close the listener and every connection, and end the proxy's thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._run(self._stop(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, url: str) -> str:
        """``url`` pointed at this proxy."""
        return proxied_url(url, self.port)

    @property
    def connections(self) -> int:
        """Links with both sockets still open."""
        return self._run(self._count())

    # -- faults ----------------------------------------------------------------------------

    def drop(self, side: str = "both") -> int:
        """Close every connection's ``side`` (FIN); returns how many links were hit."""
        return self._run(self._close_all(_check(side, SIDES), rst=False))

    def reset(self, side: str = "both") -> int:
        """Abort every connection's ``side`` with a TCP RST; returns how many were hit."""
        return self._run(self._close_all(_check(side, SIDES), rst=True))

    def stall(self, direction: str = "both") -> None:
        """Stop forwarding ``direction`` on every connection, present and future."""
        self._run(self._set(_check(direction, DIRECTIONS), flowing=False))

    def slow(
        self, latency: float = 0.0, bandwidth: float | None = None, direction: str = "both"
    ) -> None:
        """Delay each chunk by ``latency`` s and cap ``direction`` at ``bandwidth`` B/s."""
        self._run(self._set(_check(direction, DIRECTIONS), latency=latency, bandwidth=bandwidth))

    def refuse(self, refusing: bool = True) -> None:
        """Close new connections as soon as they are accepted (or accept them again)."""
        self._refusing = refusing

    def heal(self) -> None:
        """Forward everything again at full speed and accept new connections."""
        self._refusing = False
        self._run(self._set("both", flowing=True, latency=0.0, bandwidth=None))

    # -- the loop's side -------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        for direction in ("up", "down"):
            event = asyncio.Event()
            event.set()
            self._shaping[direction] = _Shaping(event)
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        writers = [w for link in self._links for w in (link.client, link.broker)]
        writers += self._pending  # accepted, still connecting to the broker
        for writer in self._pending:
            _close(writer, rst=False)
        await self._close_all("both", rst=False)
        # Let the transports run their close before the loop stops for good.
        if writers:
            await asyncio.wait([asyncio.ensure_future(w.wait_closed()) for w in writers], timeout=2)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _count(self) -> int:
        return sum(1 for link in self._links if not link.closed)

    async def _set(self, direction: str, **values: Any) -> None:
        for name in ("up", "down") if direction == "both" else (direction,):
            shaping = self._shaping[name]
            flowing = values.get("flowing")
            if flowing is True:
                shaping.flowing.set()
            elif flowing is False:
                shaping.flowing.clear()
            if "latency" in values:
                shaping.latency = values["latency"]
            if "bandwidth" in values:
                shaping.bandwidth = values["bandwidth"]

    async def _close_all(self, side: str, rst: bool) -> int:
        hit = 0
        for link in list(self._links):
            sides = ("client", "broker") if side == "both" else (side,)
            todo = [s for s in sides if s not in link.closed]
            if not todo:
                continue
            hit += 1
            for name in todo:
                _close(getattr(link, name), rst)
                link.closed.add(name)
            if len(link.closed) == 2:
                self._links.discard(link)
        return hit

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._refusing:
            _close(c_writer, rst=False)
            return
        self._pending.add(c_writer)
        try:
            b_reader, b_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _close(c_writer, rst=True)
            return
        finally:
            self._pending.discard(c_writer)
        link = _Link(c_writer, b_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.ensure_future(self._pump(link, c_reader, b_writer, "up")),
            asyncio.ensure_future(self._pump(link, b_reader, c_writer, "down")),
        ]

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        """Copy ``reader`` to ``writer`` as the direction's shaping says, until either closes.

        Delayed chunks wait in a queue, so latency does not also cut the throughput."""
        shaping = self._shaping[direction]
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(link, queue, writer, direction))
        try:
            while True:
                await shaping.flowing.wait()
                try:
                    data = await reader.read(CHUNK)
                except (OSError, asyncio.IncompleteReadError):
                    data = b""
                if not data:
                    break
                await queue.put((time.monotonic() + shaping.latency, data))
        finally:
            await queue.put((0.0, b""))
            with contextlib.suppress(BaseException):
                await sender

    async def _send(
        self,
        link: _Link,
        queue: asyncio.Queue[tuple[float, bytes]],
        writer: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        shaping = self._shaping[direction]
        while True:
            due, data = await queue.get()
            if not data:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if not await self._write(shaping, writer, data, direction):
                break
        # One side ended (EOF or error): end the link as a plain TCP relay would, unless a
        # one-sided fault keeps the other socket open on purpose.
        if not link.closed:
            for name in ("client", "broker"):
                _close(getattr(link, name), rst=False)
                link.closed.add(name)
            self._links.discard(link)

    async def _write(
        self, shaping: _Shaping, writer: asyncio.StreamWriter, data: bytes, direction: str
    ) -> bool:
        """Write ``data`` at the direction's bandwidth; False once the socket is gone."""
        step = max(1, int(shaping.bandwidth / 20)) if shaping.bandwidth else len(data)
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            await shaping.flowing.wait()
            if shaping.bandwidth:
                await asyncio.sleep(len(piece) / shaping.bandwidth)
            try:
                writer.write(piece)
                await writer.drain()
            except (OSError, RuntimeError):
                return False
            self.forwarded[direction] += len(piece)
        return True


def _check(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {allowed}")
    return value


def _close(writer: asyncio.StreamWriter, rst: bool) -> None:
    if rst:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    else:
        writer.close()
