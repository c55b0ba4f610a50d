"""Loading of drivers, executors and notification drivers through entry points.

The core never imports a driver package: every driver, ours included, is found through the
``rpcmsg.drivers`` entry point namespace with stevedore, exactly as a third-party one is.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from stevedore import driver as sd_driver

from rpcmsg.exceptions import DriverLoadFailure, ExecutorLoadFailure

__all__ = [
    "ASYNC_DRIVER_NAMESPACE",
    "DRIVER_NAMESPACE",
    "EXECUTOR_NAMESPACE",
    "NOTIFY_DRIVER_NAMESPACE",
    "driver_classes",
    "installed",
    "load_async_driver_class",
    "load_driver_class",
    "load_executor_class",
]

LOG = logging.getLogger(__name__)

DRIVER_NAMESPACE = "rpcmsg.drivers"
ASYNC_DRIVER_NAMESPACE = "rpcmsg.async_drivers"
EXECUTOR_NAMESPACE = "rpcmsg.executors"
NOTIFY_DRIVER_NAMESPACE = "rpcmsg.notify.drivers"


def installed(namespace: str) -> list[str]:
    """Names registered under an entry point namespace, without importing them."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=namespace)})


@functools.cache
def _load(namespace: str, name: str) -> Any:
    mgr: Any = sd_driver.DriverManager(namespace, name, invoke_on_load=False)
    return mgr.driver


#: The extra of rpcmsg that installs each third-party module a driver imports.
EXTRAS = {"amqp": "amqp", "kombu": "amqp", "aiormq": "amqp", "pamqp": "amqp", "redis": "redis"}


def _failure(name: str, exc: Exception, namespace: str) -> DriverLoadFailure:
    """``DriverLoadFailure`` for driver ``name``; a driver whose library is missing names
    the extra to install."""
    hint = None
    if isinstance(exc, ImportError) and exc.name:
        extra = EXTRAS.get(exc.name.split(".")[0])
        if extra:
            hint = f"install it with: pip install 'rpcmsg[{extra}]'"
    return DriverLoadFailure(name, exc, installed(namespace), hint=hint)


def load_driver_class(name: str) -> Any:
    """Return the driver class registered as ``name``, or raise ``DriverLoadFailure``."""
    try:
        return _load(DRIVER_NAMESPACE, name)
    except Exception as exc:
        raise _failure(name, exc, DRIVER_NAMESPACE) from exc


def load_async_driver_class(name: str) -> Any:
    """Return the async driver class registered as ``name`` (``rpcmsg.async_drivers``), or
    raise ``DriverLoadFailure``."""
    try:
        return _load(ASYNC_DRIVER_NAMESPACE, name)
    except Exception as exc:
        raise _failure(name, exc, ASYNC_DRIVER_NAMESPACE) from exc


def load_executor_class(name: str) -> Any:
    """Return the executor class registered as ``name``, or raise ``ExecutorLoadFailure``."""
    try:
        return _load(EXECUTOR_NAMESPACE, name)
    except Exception as exc:
        raise ExecutorLoadFailure(name, exc) from exc


def driver_classes() -> list[Any]:
    """Every driver class that loads; one failing to import is logged and skipped."""
    classes = []
    for name in installed(DRIVER_NAMESPACE):
        try:
            classes.append(_load(DRIVER_NAMESPACE, name))
        except Exception as exc:
            LOG.debug("driver %s does not load: %s", name, exc)
    return classes
