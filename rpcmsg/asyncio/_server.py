"""The lifecycle of async servers and notification listeners, shared by both.

One consumer task polls the driver's listener and starts a task per message, at most
``max_concurrency`` at a time (default ``executor_thread_pool_size``): a slot is taken
before polling, so a server never holds more messages than it can run. ``async def``
endpoints run on the loop; plain ones in a thread pool of the same size, so a blocking
endpoint never stalls the loop.

``await start()`` opens the listener (``ServerListenError`` when it cannot); ``await
stop()`` stops taking messages; ``await wait()`` (after ``stop``, waiting for it) lets every
message in hand finish, then releases the listener. ``async with server:`` does all three.
A stopped and waited server may be started again.
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rpcmsg.asyncio._transport import AsyncTransport
from rpcmsg.driver.aio import AsyncIncomingMessage, AsyncListener
from rpcmsg.exceptions import ServerListenError, TransportDriverError

__all__ = ["AsyncServerBase", "run_endpoint"]

LOG = logging.getLogger("rpcmsg.server")

#: Seconds before polling again after a listener raised.
_POLL_RETRY = 0.1


async def run_endpoint(
    pool: concurrent.futures.Executor, func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """``func(*args, **kwargs)``: awaited on the loop when it is a coroutine function, else
    run in ``pool``."""
    if inspect.iscoroutinefunction(func):
        return await func(*args, **kwargs)
    loop = asyncio.get_running_loop()
    # In a copy of the task's context: tracing's current span reaches the endpoint.
    run = contextvars.copy_context().run
    return await loop.run_in_executor(pool, functools.partial(run, func, *args, **kwargs))


class AsyncServerBase(abc.ABC):
    """Consumes messages from an async transport and hands each to ``_process``."""

    def __init__(
        self, transport: AsyncTransport, dispatcher: Any, max_concurrency: int | None = None
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        self.transport = transport
        self.conf = transport.conf
        self.dispatcher = dispatcher
        self._max_concurrency = max_concurrency
        self.listener: AsyncListener | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._stopped: asyncio.Event | None = None
        self._running = False

    @property
    def max_concurrency(self) -> int:
        """How many messages run at once (``executor_thread_pool_size`` by default)."""
        return self._max_concurrency or int(self.conf.executor_thread_pool_size)

    @property
    def in_flight(self) -> int:
        """How many messages are being handled."""
        return len(self._tasks)

    @abc.abstractmethod
    async def _create_listener(self) -> AsyncListener:
        """Called by ``start()``: open the driver listener this server consumes."""

    @abc.abstractmethod
    async def _process(self, incoming: AsyncIncomingMessage) -> None:
        """Handle one message in a task of its own; must settle it and must not raise."""

    async def _consume(self, listener: AsyncListener) -> None:
        """The consumer task; batch listeners override it."""
        slots = self._slots
        assert slots is not None and self._stopped is not None
        while not self._stopped.is_set():
            await slots.acquire()
            try:
                incoming = await listener.poll(None)
            except Exception:
                slots.release()
                LOG.exception("Listener failed to poll")
                await asyncio.sleep(_POLL_RETRY)
                continue
            if incoming is None:
                slots.release()
                continue
            task = asyncio.create_task(self._run(incoming, slots))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, incoming: AsyncIncomingMessage, slots: asyncio.Semaphore) -> None:
        try:
            await self._process(incoming)
        except Exception:  # _process must not raise
            LOG.exception("Unexpected error handling a message")
        finally:
            slots.release()

    @property
    def _executor(self) -> concurrent.futures.Executor:
        assert self._pool is not None
        return self._pool

    async def start(self) -> None:
        """Start consuming; returns once the listener is open. Raises
        ``ServerListenError`` when it cannot be opened. Does nothing when running."""
        if self._running:
            return
        try:
            listener = await self._create_listener()
        except TransportDriverError as exc:
            where = getattr(self, "target", None) or getattr(self, "targets", None)
            raise ServerListenError(where, exc) from exc
        self.listener = listener
        size = self.max_concurrency
        self._slots = asyncio.Semaphore(size)
        self._pool = concurrent.futures.ThreadPoolExecutor(size, "rpcmsg-endpoint")
        self._stopped = asyncio.Event()
        self._running = True
        self._consumer = asyncio.create_task(self._consume(listener))

    async def stop(self) -> None:
        """Stop taking new messages; messages in hand are still handled (see ``wait``)."""
        if not self._running or self._stopped is None or self._stopped.is_set():
            return
        self._stopped.set()
        if self.listener is not None:
            await self.listener.stop()

    async def wait(self) -> None:
        """Wait for ``stop()`` and for every message in hand to be handled, then release
        the listener and the thread pool."""
        if not self._running or self._stopped is None:
            return
        await self._stopped.wait()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.listener is not None:
            await self.listener.cleanup()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        self._running = False

    async def __aenter__(self) -> AsyncServerBase:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        await self.wait()
