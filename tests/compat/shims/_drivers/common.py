"""``oslo_messaging._drivers.common``'s remote-exception pair, adapted to rpcmsg's own.

oslo's tests of its wire format for exceptions call these two functions; rpcmsg's
implementation of the same format is ``rpcmsg._remote``.
"""

from rpcmsg import _remote


def serialize_remote_exception(failure_info):
    _cls, exc, tb = failure_info
    return _remote.serialize_failure(exc, tb)


def deserialize_remote_exception(data, allowed_remote_exmods):
    return _remote.deserialize_failure(data, allowed_remote_exmods)
