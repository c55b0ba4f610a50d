"""Former name of :mod:`rpcmsg.notify._impl_routing` (oslo.messaging's name), kept for rpcmsg's
earlier users and for installed entry points that still name it."""

from rpcmsg.notify._impl_routing import RoutingDriver

__all__ = ["RoutingDriver"]
