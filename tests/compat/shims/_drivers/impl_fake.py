"""``oslo_messaging._drivers.impl_fake.FakeExchangeManager``: its ``_exchanges`` reset.

oslo's server and listener tests patch ``FakeExchangeManager._exchanges`` to ``{}`` in setUp
to start each test from an empty fake broker. Setting it here does the same to rpcmsg's fake:
it forgets every in-memory broker.
"""

from rpcmsg_drivers.fake import broker


class _ResetsOnSet(type):
    def __setattr__(cls, name, value):
        if name == "_exchanges":
            with broker._brokers_lock:
                broker._brokers.clear()
        super().__setattr__(name, value)


class FakeExchangeManager(metaclass=_ResetsOnSet):
    _exchanges = {}
