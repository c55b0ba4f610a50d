"""MessageHandlingServer: the lifecycle and worker pool shared by RPC servers and
notification listeners.

Workers poll the driver's listener directly (no hand-off thread between the broker and the
handler) and the pool grows on demand up to ``executor_thread_pool_size``: a new worker is
spawned when a worker takes a message and none is left idle.

``start``, ``stop`` and ``wait`` are *ordered* steps (:func:`ordered`), as in
oslo.messaging: each runs once per cycle, whichever threads call it, ``stop`` waits for
``start`` and ``wait`` for ``stop``, and ``start`` after a completed ``stop`` begins a new
cycle. A caller waiting longer than ``log_after`` seconds (default ``DEFAULT_LOG_AFTER``,
0: never) logs a possible hang; one given ``timeout`` raises ``TaskTimeout`` when it runs
out.
"""

from __future__ import annotations

import abc
import functools
import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rpcmsg import _plugins
from rpcmsg._executors import Executor
from rpcmsg.driver.base import IncomingMessage, Listener
from rpcmsg.exceptions import (
    ExecutorLoadFailure,
    MessagingServerError,
    ServerListenError,
    TaskTimeout,
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

#: Seconds a caller of an ordered step waits before it logs a possible hang.
DEFAULT_LOG_AFTER = 30

#: Seconds a worker waits before polling again after its listener raised.
_POLL_RETRY = 0.1

F = TypeVar("F", bound=Callable[..., Any])


def _default_executor() -> str:
    """``eventlet`` in a process whose threads eventlet patched, else ``threading``."""
    eventlet = sys.modules.get("eventlet")
    if eventlet is not None:
        try:
            if eventlet.patcher.is_monkey_patched("thread"):
                return "eventlet"
        except Exception:  # an eventlet too broken to ask: threads are the safe answer
            pass
    return "threading"


class _OrderedTask:
    """One step of one cycle: runs once; concurrent callers wait for the one running it."""

    INIT, RUNNING, COMPLETE = 0, 1, 2

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._state = self.INIT

    @property
    def complete(self) -> bool:
        return self._state == self.COMPLETE

    def _wait(
        self, blocked: Callable[[], bool], what: str, log_after: float, deadline: float | None
    ) -> None:
        # Called holding self._cond.
        log_at = time.monotonic() + log_after if log_after else None
        while blocked():
            now = time.monotonic()
            if log_at is not None and now >= log_at:
                LOG.warning("Possible hang: %s", what)
                log_at = None
            if deadline is not None and now >= deadline:
                raise TaskTimeout(what)
            waits = [t - now for t in (log_at, deadline) if t is not None]
            self._cond.wait(min(waits) if waits else None)

    def wait_for_completion(self, caller: str, log_after: float, deadline: float | None) -> None:
        """Block until this step has run (in this cycle)."""
        with self._cond:
            what = f"{caller} is waiting for {self._name} to complete"
            self._wait(lambda: not self.complete, what, log_after, deadline)

    def run_once(self, fn: Callable[[], Any], log_after: float, deadline: float | None) -> None:
        """Run ``fn`` unless this step ran already; wait while another thread runs it."""
        with self._cond:
            if self._state == self.INIT:
                self._state = self.RUNNING
                self._cond.release()  # never call out holding the condition
                try:
                    fn()
                finally:
                    self._cond.acquire()
                    self._state = self.COMPLETE
                    self._cond.notify_all()
            elif self._state == self.RUNNING:
                what = f"{self._name} is waiting for another thread to complete"
                self._wait(lambda: self._state == self.RUNNING, what, log_after, deadline)


class _OrderedTaskRunner:
    """Mixin giving a class's :func:`ordered` methods their per-cycle states."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        self._tasks = [
            name for name in dir(cls) if getattr(getattr(cls, name, None), "_ordered", False)
        ]
        self._reset_lock = threading.Lock()
        self.reset_states()

    def reset_states(self) -> None:
        """Begin a new cycle: every ordered step may run again."""
        self._states = {task: _OrderedTask(task) for task in self._tasks}

    @staticmethod
    def decorate_ordered(
        fn: Callable[..., Any], state: str, after: str | None, reset_after: str | None
    ) -> Callable[..., Any]:
        """Wrap ``fn`` as the ordered step ``state`` (see :func:`ordered`)."""

        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            with self._reset_lock:
                if reset_after is not None and self._states[reset_after].complete:
                    self.reset_states()
            # Keep this cycle's states: if the cycle ends while we sleep, run_once below
            # finds its step complete and does nothing, rather than run in the next cycle.
            states = self._states
            log_after = kwargs.pop("log_after", DEFAULT_LOG_AFTER)
            timeout = kwargs.pop("timeout", None)
            deadline = None if timeout is None else time.monotonic() + timeout
            if after is not None:
                states[after].wait_for_completion(state, log_after, deadline)
            states[state].run_once(lambda: fn(self, *args, **kwargs), log_after, deadline)

        return wrapper


def ordered(after: str | None = None, reset_after: str | None = None) -> Callable[[F], F]:
    """Make a method an ordered step: it runs once per cycle however many threads call it
    (they all return when it has run); it first waits for the step ``after``; and when the
    step ``reset_after`` has completed, calling it begins a new cycle. The wrapped method
    takes ``log_after=`` and ``timeout=`` (see the module docstring) and returns None."""

    def decorate(fn: F) -> F:
        fn._ordered = True  # type: ignore[attr-defined]
        return _OrderedTaskRunner.decorate_ordered(fn, fn.__name__, after, reset_after)  # type: ignore[return-value]

    return decorate


class MessageHandlingServer(_OrderedTaskRunner, abc.ABC):
    """Consumes messages from a transport and hands each to ``_process``.

    Lifecycle: ``start()`` begins consuming and returns; ``stop()`` (after ``start``) stops
    taking new messages and returns at once; ``wait()`` (after ``stop``) blocks until every
    message already taken is handled, then releases the listener. Called out of order, a
    step waits for the one before it (from another thread); a stopped and waited server may
    be started again. Registered as an ``oslo_service.service.ServiceBase`` when oslo.service
    is importable, so ``oslo_service.service.launch`` takes it.
    """

    def __init__(self, transport: Transport, dispatcher: Any, executor: str | None = None) -> None:
        self.transport = transport
        self.conf = transport.conf
        self.dispatcher = dispatcher
        self.executor_type = executor or _default_executor()
        self._executor_cls = _plugins.load_executor_class(self.executor_type)
        self._state_lock = threading.Lock()
        self.listener: Listener | None = None
        self._executor: Executor | None = None
        self._stopped = threading.Event()
        self._stopped.set()
        self._running = False
        # Worker pool accounting, guarded by _pool_lock.
        self._pool_lock = threading.Lock()
        self._max_workers = 1
        self._workers = 0
        self._idle = 0
        cls = type(self)
        self._push_style = cls._process is MessageHandlingServer._process
        if self._push_style and cls._process_incoming is MessageHandlingServer._process_incoming:
            raise TypeError(f"{cls.__name__} implements neither _process nor _process_incoming")
        self._work_executor: Any = None
        super().__init__()

    # -- subclass hooks ----------------------------------------------------------------

    @abc.abstractmethod
    def _create_listener(self) -> Listener:
        """Called by ``start()``: open the driver listener this server consumes."""

    def _process(self, incoming: IncomingMessage) -> None:
        """Called in a worker for each message; must settle it and must not raise.

        A subclass implements this, or instead oslo.messaging's hook ``_process_incoming``
        (below) with a push-style listener.
        """
        raise NotImplementedError

    def _process_incoming(self, incoming: Any) -> None:
        """oslo.messaging's subclass contract, for servers written against it: when a
        subclass implements this rather than ``_process``, ``_create_listener()`` returns a
        listener with ``start(on_incoming)``, ``stop()`` and ``cleanup()``, which calls
        ``on_incoming`` for each message, and each message runs here in the executor."""
        raise NotImplementedError

    def _on_incoming(self, incoming: Any) -> None:
        self._work_executor.submit(self._process_incoming, incoming)

    def _futures_executor(self, max_workers: int) -> Any:
        cls = self._executor_cls
        if hasattr(cls, "submit"):  # a concurrent.futures-style executor class
            return cls(max_workers=max_workers)
        return _Submitting(cls())

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

    @ordered(reset_after="stop")
    def start(self, override_pool_size: int | None = None) -> None:
        """Start consuming. Raises ``ServerListenError`` when the listener cannot be opened."""
        with self._state_lock:
            if self._running:
                return
            # Before the listener: its driver sizes its prefetch window from the pool.
            self._max_workers = override_pool_size or self.conf.executor_thread_pool_size
            try:
                listener = self._create_listener()
            except TransportDriverError as exc:
                where = getattr(self, "target", None) or getattr(self, "targets", None)
                raise ServerListenError(where, exc) from exc
            self.listener = listener
            self._stopped.clear()
            self._running = True
            if self._push_style:
                self._work_executor = self._futures_executor(self._max_workers)
                push_listener: Any = listener  # oslo.messaging's listener shape, not ours
                push_listener.start(self._on_incoming)
                return
            self._executor = self._executor_cls()
            self._workers = 0
            self._idle = 0
            self._spawn_worker(listener, counted=False)

    def _spawn_worker(self, listener: Listener, counted: bool) -> None:
        if not counted:
            with self._pool_lock:
                self._workers += 1
        assert self._executor is not None
        self._executor.spawn(lambda: self._worker_loop(listener))

    @ordered(after="start")
    def stop(self) -> None:
        """Stop taking new messages; returns at once. Messages in hand are still handled."""
        with self._state_lock:
            listener = self.listener
            self._stopped.set()
        if listener is not None:
            listener.stop()

    @ordered(after="stop")
    def wait(self) -> None:
        """Block until ``stop()`` was called and every message in hand is handled."""
        self._stopped.wait()
        with self._state_lock:
            # self.listener stays for inspection (oslo.messaging keeps it); the cycle's
            # ordering guarantees this runs once per listener.
            listener, executor = self.listener, self._executor
            work_executor, self._work_executor = self._work_executor, None
            self._executor = None
        if executor is not None:
            executor.join()
        if work_executor is not None:
            work_executor.shutdown(wait=True)
        if listener is not None:
            listener.cleanup()
        with self._state_lock:
            self._running = False

    def reset(self) -> None:
        """``ServiceBase.reset`` (a service's SIGHUP); there is nothing to reset."""


class _Submitting:
    """An rpcmsg executor behind the ``submit``/``shutdown`` face push-style servers use."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._executor.spawn(lambda: fn(*args, **kwargs))

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self._executor.join()


def _register_as_oslo_service() -> None:
    # oslo_service's ServiceBase is an ABC: registering a virtual subclass needs no
    # dependency. oslo.service 4 keeps it in the light backend.base module; importing
    # oslo_service.service there would import eventlet into every rpcmsg user.
    for name in ("oslo_service.backend.base", "oslo_service.service"):
        try:
            module = importlib.import_module(name)
        except Exception:  # absent, or failing to import: try the older place, or give up
            continue
        base = getattr(module, "ServiceBase", None)
        if isinstance(base, abc.ABCMeta):
            base.register(MessageHandlingServer)  # type: ignore[type-abstract]
            return


_register_as_oslo_service()
