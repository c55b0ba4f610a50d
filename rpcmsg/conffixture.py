"""ConfFixture: messaging configuration for tests, defaulting to the fake driver.

Works as a ``fixtures.Fixture`` (``self.useFixture(ConfFixture(cfg.CONF))``) when the
``fixtures`` package is installed, and as a context manager or with ``setUp``/``cleanUp``
otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from oslo_config import cfg

from rpcmsg.opts import NOTIFICATIONS_GROUP, driver_opts, register_group, register_opts

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


# The [DEFAULT] names the notification options had before they moved to their group; oslo's
# fixture keeps old tests that override them working, and so does this one.
_OLD_NOTIFICATION_NAMES = {
    "notification_driver": "driver",
    "notification_transport_url": "transport_url",
    "notification_topics": "topics",
}


def _renaming(method: Any, clearing: bool) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and args[0] in _OLD_NOTIFICATION_NAMES:
            name = _OLD_NOTIFICATION_NAMES[args[0]]
            args = (name, NOTIFICATIONS_GROUP) if clearing else (name, args[1], NOTIFICATIONS_GROUP)
        return method(*args, **kwargs)

    wrapper.wrapped = method  # type: ignore[attr-defined]
    return wrapper


class ConfFixture(_Base):  # type: ignore[misc]
    """Messaging configuration for unit tests, as oslo.messaging's ``ConfFixture``.

    On construction, registers every option rpcmsg and its installed drivers read on
    ``conf`` (so ``conf.set_override(..., group='oslo_messaging_rabbit')`` works at once).
    On set-up, sets ``transport_url`` (default ``fake://``: unlike oslo.messaging's fixture,
    whose default is the option's ``rabbit://``, so a test never reaches for a real broker)
    and lets ``set_override``/``clear_override`` take the old ``[DEFAULT]`` names of the
    notification options. On clean-up, undoes that and calls ``conf.reset()`` (every override
    cleared), as oslo.messaging's does.

    Properties ``transport_url``, ``response_timeout`` and ``transport_driver`` read and
    set the matching options.
    """

    def __init__(self, conf: cfg.ConfigOpts, transport_url: str | None = None) -> None:
        super().__init__()
        self.conf = conf
        self._url = transport_url or "fake://"
        register_opts(conf)
        for group, opts in driver_opts():
            register_group(conf, group, opts)

    def _setUp(self) -> None:
        self.conf.set_override("transport_url", self._url)
        self._setup_decorator()
        self.addCleanup(self._teardown_decorator)
        self.addCleanup(self.conf.reset)

    def _setup_decorator(self) -> None:
        if not hasattr(self.conf.set_override, "wrapped"):
            self.conf.set_override = _renaming(self.conf.set_override, clearing=False)
        if not hasattr(self.conf.clear_override, "wrapped"):
            self.conf.clear_override = _renaming(self.conf.clear_override, clearing=True)

    def _teardown_decorator(self) -> None:
        if hasattr(self.conf.set_override, "wrapped"):
            self.conf.set_override = self.conf.set_override.wrapped
        if hasattr(self.conf.clear_override, "wrapped"):
            self.conf.clear_override = self.conf.clear_override.wrapped

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
        return str(self.conf.transport_url).split(":", 1)[0]

    @transport_driver.setter
    def transport_driver(self, value: str) -> None:
        self.transport_url = f"{value}://"
