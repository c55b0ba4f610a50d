"""Former name of :mod:`rpcmsg.notify._impl_log` (oslo.messaging's name), kept for rpcmsg's
earlier users and for installed entry points that still name it."""

from rpcmsg.notify._impl_log import LogDriver, mask_secrets

__all__ = ["LogDriver", "mask_secrets"]
