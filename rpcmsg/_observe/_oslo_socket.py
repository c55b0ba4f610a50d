"""The oslo.metrics collector socket: oslo.messaging's RPC metrics sent as oslo.messaging
sends them, so that an oslo.metrics process (``python -m oslo_metrics``, which serves them to
Prometheus) keeps feeding the dashboards built on it when a service moves to rpcmsg.

On with ``[oslo_messaging_metrics] metrics_enabled``. The wire: one JSON object per datagram
on the unix socket ``metrics_socket_file`` (``SOCK_DGRAM``)::

    {"module": "oslo_messaging", "name": "rpc_client_invocation_start_total",
     "action": {"action": "inc", "value": null}, "labels": {"call_type": "call", ...}}

``name`` is the metric's name without the ``oslo_messaging_`` prefix; ``action`` is ``inc``
for the counters (value null) and ``observe`` for the ``*_processing_seconds`` histograms
(the seconds); ``labels`` are oslo.metrics' label names (listed in
:mod:`rpcmsg._observe._metrics`).

Contract: a measurement never blocks and never raises on the caller's path. It goes into a
queue of ``metrics_buffer_size``; a full queue drops it (logged: the first drop, then every
thousandth). One daemon thread sends, and ends once it has had nothing to send for
``metrics_thread_stop_timeout`` seconds (the next measurement starts it again), so it never
holds a process up. While nothing listens on the socket the thread logs once, tries again
every second and the queue fills; a collector started later gets what the queue held.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from typing import Any

__all__ = ["SocketSender", "Tee"]

LOG = logging.getLogger(__name__)

#: Seconds between attempts while the collector's socket refuses.
RETRY_EVERY = 1.0
#: The ``module`` oslo.metrics routes oslo.messaging's metrics by.
MODULE = "oslo_messaging"
_PREFIX = "oslo_messaging_"


class SocketSender:
    """Queues measurements and sends them to the collector's socket from one thread."""

    def __init__(self, path: str, buffer_size: int, stop_after: float) -> None:
        self.path = path
        self.stop_after = max(0.1, float(stop_after))
        self._queue: queue.Queue[bytes] = queue.Queue(max(1, int(buffer_size)))
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._dropped = 0

    def put(self, name: str, action: str, value: float | None, labels: dict[str, Any]) -> None:
        """Queue one measurement of ``name`` (an ``oslo_messaging_*`` metric name)."""
        data = json.dumps(
            {
                "module": MODULE,
                "name": name.removeprefix(_PREFIX),
                "action": {"value": value, "action": action},
                "labels": labels,
            }
        ).encode()
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            self._dropped += 1
            if self._dropped % 1000 == 1:
                LOG.warning(
                    "oslo.metrics queue full (%d): %d measurement(s) dropped so far; is the "
                    "collector listening on %s?",
                    self._queue.maxsize,
                    self._dropped,
                    self.path,
                )
        thread = self._thread
        if thread is None or not thread.is_alive():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run, name="rpcmsg-oslo-metrics", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        failing = False
        pending: bytes | None = None
        idle_until = time.monotonic() + self.stop_after
        try:
            while True:
                if pending is None:
                    left = idle_until - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        pending = self._queue.get(timeout=left)
                    except queue.Empty:
                        return
                try:
                    sock.sendto(pending, self.path)
                except OSError as exc:
                    if not failing:
                        LOG.error("Cannot send metrics to oslo.metrics at %s: %s", self.path, exc)
                        failing = True
                    if time.monotonic() >= idle_until:
                        return  # the next measurement starts a thread again
                    time.sleep(RETRY_EVERY)
                    continue
                if failing:
                    LOG.info("Sending metrics to oslo.metrics at %s again", self.path)
                    failing = False
                pending = None
                idle_until = time.monotonic() + self.stop_after
        finally:
            sock.close()
            if pending is not None:
                try:  # keep it for the next thread rather than lose it
                    self._queue.put_nowait(pending)
                except queue.Full:
                    pass


class Tee:
    """An OpenTelemetry counter or histogram that also sends each measurement to
    oslo.metrics (``add`` as ``inc``, ``record`` as ``observe``)."""

    __slots__ = ("_instrument", "_name", "_sender")

    def __init__(self, instrument: Any, name: str, sender: SocketSender) -> None:
        self._instrument = instrument
        self._name = name
        self._sender = sender

    def add(self, amount: int, attributes: dict[str, Any]) -> None:
        self._instrument.add(amount, attributes)
        self._sender.put(self._name, "inc", None, attributes)

    def record(self, amount: float, attributes: dict[str, Any]) -> None:
        self._instrument.record(amount, attributes)
        self._sender.put(self._name, "observe", amount, attributes)
