"""The asyncio RabbitMQ driver (``rabbit://``, ``amqp://``, ``kombu://`` under
``rpcmsg.async_drivers``); see :mod:`.driver`."""

from __future__ import annotations

from rpcmsg_drivers.aioamqp.driver import AsyncAMQPDriver

__all__ = ["AsyncAMQPDriver"]
