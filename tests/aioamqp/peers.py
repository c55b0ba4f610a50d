"""An RPC client and server written on the async driver seam alone, with the core's wire
format (``rpcmsg._wire``): enough to show that the asyncio RabbitMQ driver carries calls,
casts and replies to and from sync rpcmsg and oslo.messaging processes, before and besides
``rpcmsg.asyncio``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from rpcmsg import _wire
from rpcmsg.driver.aio import AsyncDriver, AsyncReplyConsumer
from rpcmsg.target import Target
from tests.aioamqp.conftest import deadline_in


class SeamClient:
    """Calls and casts through ``driver``; replies correlated by ``_msg_id``."""

    def __init__(self, driver: AsyncDriver, exchange: str) -> None:
        self.driver = driver
        self.exchange = exchange
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._consumer: AsyncReplyConsumer | None = None

    def _on_reply(self, body: bytes, content_type: str) -> None:
        message = _wire.decode(body)
        future = self._pending.get(message.get("_msg_id", ""))
        if future is not None and not future.done() and message.get("ending", True):
            future.set_result(message)

    async def call(
        self,
        topic: str,
        method: str,
        ctxt: dict[str, Any] | None = None,
        server: str | None = None,
        timeout: float = 15.0,
        **args: Any,
    ) -> Any:
        """The result, or ``("failure", class name, message)`` for a remote error."""
        if self._consumer is None:
            self._consumer = await self.driver.open_reply_consumer(
                self._on_reply, deadline_in(timeout)
            )
        msg_id = _wire.new_id()
        message: dict[str, Any] = {
            "method": method,
            "args": args,
            "_unique_id": _wire.new_id(),
            "_msg_id": msg_id,
            "_reply_q": self._consumer.address,
        }
        _wire.pack_context(message, ctxt or {})
        future = self._pending[msg_id] = asyncio.get_running_loop().create_future()
        try:
            await self.driver.send(
                Target(exchange=self.exchange, topic=topic, server=server),
                _wire.encode(message),
                expiration=timeout,
                deadline=deadline_in(timeout),
            )
            reply = await asyncio.wait_for(future, timeout)
        finally:
            del self._pending[msg_id]
        if reply.get("failure"):
            failure = json.loads(reply["failure"])
            return ("failure", failure["class"], failure["message"])
        return reply.get("result")

    async def cast(
        self, topic: str, method: str, fanout: bool = False, server: str | None = None, **args: Any
    ) -> None:
        message = {"method": method, "args": args, "_unique_id": _wire.new_id()}
        await self.driver.send(
            Target(exchange=self.exchange, topic=topic, server=server, fanout=fanout),
            _wire.encode(message),
        )

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.close()


def answer(message: dict[str, Any], name: str, records: list[Any]) -> tuple[Any, str | None]:
    """``(result, failure)`` of the seam server's endpoint: ``echo``, ``context``, ``sleep``
    (at once), ``whoami`` (``name``), ``record`` (into ``records``), ``fail``
    (``ValueError``); anything else answers None."""
    method, args = message.get("method"), message.get("args") or {}
    ctxt = _wire.unpack_context(dict(message))
    if method == "fail":
        failure = {
            "class": "ValueError",
            "module": "builtins",
            "message": "async says no",
            "tb": [],
            "args": ["async says no"],
            "kwargs": {},
        }
        return None, json.dumps(failure)
    if method == "record":
        records.append(args.get("value"))
    results = {
        "echo": args.get("value"),
        "context": ctxt,
        "sleep": "slept",
        "whoami": name,
    }
    return results.get(str(method)), None


@contextlib.asynccontextmanager
async def seam_server(
    driver: AsyncDriver, exchange: str, topic: str, name: str
) -> AsyncIterator[list[Any]]:
    """Serve ``topic`` as server ``name`` while the context lasts; yields the values
    ``record`` casts brought."""
    listener = await driver.listen(Target(exchange=exchange, topic=topic, server=name))
    records: list[Any] = []

    async def serve() -> None:
        while True:
            incoming = await listener.poll(1.0)
            if incoming is None:
                continue
            message = _wire.decode(incoming.body)
            await incoming.ack()
            result, failure = answer(message, name, records)
            if "_reply_q" in message:
                reply = {
                    "result": result,
                    "failure": failure,
                    "ending": True,
                    "_msg_id": message["_msg_id"],
                    "_unique_id": _wire.new_id(),
                }
                await driver.send_reply(message["_reply_q"], _wire.encode(reply))

    task = asyncio.ensure_future(serve())
    try:
        yield records
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.cleanup()
