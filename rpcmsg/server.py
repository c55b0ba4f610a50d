"""MessageHandlingServer: the lifecycle and worker pool shared by RPC servers and
notification listeners.

Workers poll the driver's listener directly (no hand-off thread between the broker and the
handler) and the pool grows on demand up to ``executor_thread_pool_size``: a new worker is
spawned when a worker takes a message and none is left idle.
"""

from __future__ import annotations

import abc
import logging
import threading
from typing import Any

from rpcmsg import _plugins
from rpcmsg._executors import Executor
from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.exceptions import (
    ExecutorLoadFailure,
    MessagingServerError,
    ServerListenError,
    TransportDriverError,
)
from rpcmsg.transport import Transport

__all__ = [
    "ExecutorLoadFailure",
    "MessageHandlingServer",
    "MessagingServerError",
    "ServerListenError",
]

LOG = logging.getLogger(__name__)

#: Seconds a worker waits before polling again after its listener raised.
_POLL_RETRY = 0.1


class MessageHandlingServer(abc.ABC):
    """Consumes messages from a transport and hands each to ``_process``.

    Lifecycle: ``start()`` begins consuming and returns; ``stop()`` stops taking new messages
    and returns at once; ``wait()`` blocks until every message already taken is handled, then
    releases the listener. A stopped and waited server may be started again.
    """

    def __init__(
        self, transport: Transport, dispatcher: Any, executor: str | None = "threading"
    ) -> None:
        self.transport = transport
        self.conf = transport.conf
        self.dispatcher = dispatcher
        self.executor_type = executor or "threading"
        self._executor_cls = _plugins.load_executor_class(self.executor_type)
        self._state_lock = threading.Lock()
        self._listener: Listener | None = None
        self._executor: Executor | None = None
        self._stopped = threading.Event()
        self._stopped.set()
        self._running = False
        # Worker pool accounting, guarded by _pool_lock.
        self._pool_lock = threading.Lock()
        self._max_workers = 1
        self._workers = 0
        self._idle = 0

    # -- subclass hooks ----------------------------------------------------------------

    @abc.abstractmethod
    def _create_listener(self) -> Listener:
        """Called by ``start()``: open the driver listener this server consumes."""

    @abc.abstractmethod
    def _process(self, incoming: IncomingMessage) -> None:
        """Called in a worker for each message; must settle it and must not raise."""

    def _worker_loop(self, listener: Listener) -> None:
        """The body of a worker; batch servers override it."""
        while True:
            with self._pool_lock:
                self._idle += 1
            try:
                incoming = listener.poll(None)
            except Exception:  # a driver bug must not end the worker: poll again
                LOG.exception("Listener failed to poll")
                incoming = None
                self._stopped.wait(_POLL_RETRY)
            with self._pool_lock:
                self._idle -= 1
                grow = (
                    incoming is not None and self._idle == 0 and self._workers < self._max_workers
                )
                if grow:
                    self._workers += 1
            if incoming is None:
                if self._stopped.is_set():
                    return
                continue
            if grow:
                self._spawn_worker(listener, counted=True)
            try:
                self._process(incoming)
            except Exception:  # _process must not raise; never let a worker die of it
                LOG.exception("Unexpected error handling a message")

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, override_pool_size: int | None = None) -> None:
        """Start consuming. Raises ``ServerListenError`` when the listener cannot be opened."""
        with self._state_lock:
            if self._running:
                return
            try:
                listener = self._create_listener()
            except TransportDriverError as exc:
                where = getattr(self, "target", None) or getattr(self, "targets", None)
                raise ServerListenError(where, exc) from exc
            self._listener = listener
            self._executor = self._executor_cls()
            self._max_workers = override_pool_size or self.conf.executor_thread_pool_size
            self._workers = 0
            self._idle = 0
            self._stopped.clear()
            self._running = True
            self._spawn_worker(listener, counted=False)

    def _spawn_worker(self, listener: Listener, counted: bool) -> None:
        if not counted:
            with self._pool_lock:
                self._workers += 1
        assert self._executor is not None
        self._executor.spawn(lambda: self._worker_loop(listener))

    def stop(self) -> None:
        """Stop taking new messages; returns at once. Messages in hand are still handled."""
        with self._state_lock:
            listener = self._listener
            self._stopped.set()
        if listener is not None:
            listener.stop()

    def wait(self) -> None:
        """Block until ``stop()`` was called and every message in hand is handled."""
        self._stopped.wait()
        with self._state_lock:
            listener, executor = self._listener, self._executor
            self._listener = None
            self._executor = None
        if executor is not None:
            executor.join()
        if listener is not None:
            listener.cleanup()
        with self._state_lock:
            self._running = False

    def reset(self) -> None:  # noqa: B027 - kept for oslo.messaging compatibility
        """Kept for compatibility; there is no state to reset between runs."""
