"""ConfFixture: messaging configuration for tests, defaulting to the fake driver.

Works as a ``fixtures.Fixture`` (``self.useFixture(ConfFixture(cfg.CONF))``) when the
``fixtures`` package is installed, and as a context manager or with ``setUp``/``cleanUp``
otherwise.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

from rpcmsg.opts import NOTIFICATIONS_GROUP, register_opts

__all__ = ["ConfFixture"]

try:
    import fixtures

    _Base: Any = fixtures.Fixture
except ImportError:  # pragma: no cover - exercised when fixtures is absent

    class _Base:  # type: ignore[no-redef]
        def __init__(self) -> None:
            self._cleanups: list[Any] = []

        def addCleanup(self, fn: Any, *args: Any) -> None:
            self._cleanups.append((fn, args))

        def setUp(self) -> None:
            self._setUp()

        def _setUp(self) -> None:
            pass

        def cleanUp(self) -> None:
            while self._cleanups:
                fn, args = self._cleanups.pop()
                fn(*args)

        def __enter__(self) -> Any:
            self.setUp()
            return self

        def __exit__(self, *exc: Any) -> None:
            self.cleanUp()


class ConfFixture(_Base):  # type: ignore[misc]
    """Registers rpcmsg's options on ``conf`` and sets ``transport_url`` (default
    ``fake://``); every override is undone on clean-up.

    Properties ``transport_url``, ``response_timeout`` and ``transport_driver`` read and
    set the matching options, as in oslo.messaging.
    """

    def __init__(self, conf: cfg.ConfigOpts, transport_url: str | None = None) -> None:
        super().__init__()
        self.conf = conf
        self._url = transport_url or "fake://"
        register_opts(conf)

    def _setUp(self) -> None:
        self.conf.set_override("transport_url", self._url)
        self.addCleanup(self.conf.clear_override, "transport_url")
        self.addCleanup(self._clear_others)

    def _clear_others(self) -> None:
        self.conf.clear_override("rpc_response_timeout")
        self.conf.clear_override("driver", group=NOTIFICATIONS_GROUP)

    @property
    def transport_url(self) -> str:
        value: str = self.conf.transport_url
        return value

    @transport_url.setter
    def transport_url(self, value: str) -> None:
        self.conf.set_override("transport_url", value)

    @property
    def response_timeout(self) -> int:
        value: int = self.conf.rpc_response_timeout
        return value

    @response_timeout.setter
    def response_timeout(self, value: int) -> None:
        self.conf.set_override("rpc_response_timeout", value)

    @property
    def transport_driver(self) -> str:
        return str(self.conf.transport_url).split("://", 1)[0]

    @transport_driver.setter
    def transport_driver(self, value: str) -> None:
        self.transport_url = f"{value}://"
