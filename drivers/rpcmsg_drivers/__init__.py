"""rpcmsg's own drivers. Each is a subpackage, loaded only through the ``rpcmsg.drivers``
entry points, exactly as a third-party driver would be."""
