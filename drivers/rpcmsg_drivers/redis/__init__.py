"""The Redis driver (``redis://``, ``rediss://``, ``redis+sentinel://``).

See :mod:`rpcmsg_drivers.redis.driver` for its spec sheet.
"""

from __future__ import annotations

from rpcmsg_drivers.redis.driver import RedisDriver

__all__ = ["RedisDriver"]
