"""The RabbitMQ driver (``rabbit://``, ``amqp://``, ``kombu://``); see :mod:`.driver`."""

from __future__ import annotations

from rpcmsg_drivers.amqp.driver import AMQPDriver

__all__ = ["AMQPDriver"]
