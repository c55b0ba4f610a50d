"""Former name of :mod:`rpcmsg.notify._impl_noop` (oslo.messaging's name), kept for rpcmsg's
earlier users and for installed entry points that still name it."""

from rpcmsg.notify._impl_noop import NoOpDriver

__all__ = ["NoOpDriver"]
