"""The asyncio Redis driver (``redis://``, ``rediss://``, ``redis+sentinel://`` under
``rpcmsg.async_drivers``).

See :mod:`rpcmsg_drivers.aioredis.driver` for its spec sheet.
"""

from __future__ import annotations

from rpcmsg_drivers.aioredis.driver import AsyncRedisDriver

__all__ = ["AsyncRedisDriver"]
