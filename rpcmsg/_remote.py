"""Exceptions across the wire: described as JSON, rebuilt only from allowed modules.

Nothing is ever pickled. The description is oslo.messaging's ``failure`` string: a JSON object
with ``class``, ``module``, ``message``, ``tb`` (traceback lines), ``args`` and ``kwargs``.
Rebuilding follows oslo.messaging exactly, so a caller cannot tell the two apart:

- ``module`` ``builtins`` (or Python 2's ``exceptions``): the builtin class itself, with the
  remote message and traceback as its first argument (``type(e) is ValueError``);
- ``module`` listed in ``allowed_remote_exmods``: a ``<Name>_Remote`` subclass of the class,
  built from ``args``/``kwargs``, whose ``str()`` is the remote message and traceback;
- anything else, or a description that does not rebuild: :class:`RemoteError`.

rpcmsg's own exceptions travel under the name of the oslo.messaging module that defines the
same class (``NoSuchMethod`` as ``oslo_messaging.rpc.dispatcher``), so oslo.messaging peers
treat them as they would their own; received under those names (or ``rpcmsg.*`` ones, from
older rpcmsg peers) they are rebuilt as rpcmsg's classes, without importing oslo.messaging.
"""

from __future__ import annotations

import builtins
import importlib
import json
import logging
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from rpcmsg import exceptions

__all__ = ["OSLO_MODULES", "deserialize_failure", "serialize_failure"]

LOG = logging.getLogger(__name__)

_REMOTE_SUFFIX = "_Remote"
_BUILTINS = "builtins"
_BUILTIN_ALIASES = ("exceptions", "builtins")

#: rpcmsg exception class name -> the oslo.messaging 18.3.1 module defining that class.
OSLO_MODULES: dict[str, str] = {
    **dict.fromkeys(
        [
            "MessagingException",
            "MessagingTimeout",
            "MessageDeliveryFailure",
            "InvalidTarget",
            "MessageUndeliverable",
            "ConfigurationError",
        ],
        "oslo_messaging.exceptions",
    ),
    **dict.fromkeys(["InvalidTransportURL", "DriverLoadFailure"], "oslo_messaging.transport"),
    **dict.fromkeys(
        ["MessagingServerError", "ExecutorLoadFailure", "ServerListenError", "TaskTimeout"],
        "oslo_messaging.server",
    ),
    **dict.fromkeys(
        ["RemoteError", "RPCVersionCapError", "ClientSendError"], "oslo_messaging.rpc.client"
    ),
    **dict.fromkeys(
        ["ExpectedException", "RPCDispatcherError", "NoSuchMethod", "UnsupportedVersion"],
        "oslo_messaging.rpc.dispatcher",
    ),
    "TransportDriverError": "oslo_messaging._drivers.base",
}

_remote_classes: dict[tuple[type[BaseException], str], type[BaseException]] = {}


def _wire_module(cls: type[BaseException]) -> str:
    module = cls.__module__
    if module == exceptions.__name__ and cls.__name__ in OSLO_MODULES:
        return OSLO_MODULES[cls.__name__]
    return module


def serialize_failure(exc: BaseException, tb: Any = None) -> str:
    """Describe ``exc`` as the JSON ``failure`` string of a reply."""
    cls = type(exc)
    name, module = cls.__name__, _wire_module(cls)
    # A rebuilt remote exception raised again (cells) travels as the original class.
    if name.endswith(_REMOTE_SUFFIX) and module.endswith(_REMOTE_SUFFIX):
        name, module = name.removesuffix(_REMOTE_SUFFIX), module.removesuffix(_REMOTE_SUFFIX)
    lines = traceback.format_exception(cls, exc, tb if tb is not None else exc.__traceback__)
    kwargs = getattr(exc, "kwargs", None)
    data = {
        "class": name,
        "module": module,
        "message": str(exc),
        "tb": lines,
        "args": _jsonable(list(exc.args)),
        "kwargs": _jsonable(kwargs) if isinstance(kwargs, dict) else {},
    }
    return json.dumps(data)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, list | tuple):
            return [_jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        return str(value)


def deserialize_failure(data: str | dict[str, Any], allowed: Iterable[str]) -> BaseException:
    """Rebuild the exception a ``failure`` describes (see the module docstring)."""
    try:
        failure = json.loads(data) if isinstance(data, str) else dict(data)
        name = str(failure.get("class"))
        module = str(failure.get("module"))
        message = failure.get("message", "")
        tb = failure.get("tb") or []
        trace: list[str] = [str(line) for line in tb] if isinstance(tb, list) else [str(tb)]
        args = list(failure.get("args") or [])
        kwargs = dict(failure.get("kwargs") or {})
    except (ValueError, TypeError, AttributeError):
        return exceptions.RemoteError("UnknownError", str(data), [])

    if module in _BUILTIN_ALIASES:
        module = _BUILTINS
    if module != _BUILTINS and module not in set(allowed):
        return exceptions.RemoteError(name, message, trace)
    try:
        cls = _find_class(module, name)
        exc = cls(*args, **kwargs)
    except Exception as error:
        LOG.warning("Failed to rebuild remote exception due to error: %s", error)
        return exceptions.RemoteError(name, message, trace)

    full_message = f"{message}\n" + "\n".join(trace)
    try:
        exc.__class__ = _remote_class(type(exc), module)
        exc._remote_message = full_message  # type: ignore[attr-defined]
    except TypeError:
        # A builtin class cannot be swapped: it carries the remote text as its first argument.
        exc.args = (full_message, *exc.args[1:])
        exc._remote_message = full_message  # type: ignore[attr-defined]
    return exc


def _find_class(module: str, name: str) -> type[BaseException]:
    candidate: Any
    if module == _BUILTINS:
        candidate = getattr(builtins, name)
    elif OSLO_MODULES.get(name) == module:
        candidate = getattr(exceptions, name)  # oslo.messaging's class is rpcmsg's
    elif module.split(".")[0] == "oslo_messaging":
        # Never import oslo.messaging: only a module already loaded (an alias) is used.
        candidate = getattr(sys.modules[module], name)
    else:
        candidate = getattr(importlib.import_module(module), name)
    if not (isinstance(candidate, type) and issubclass(candidate, Exception)):
        raise TypeError("Can only deserialize Exceptions")
    return candidate


def _remote_class(cls: type[BaseException], module: str) -> type[BaseException]:
    """``<Name>_Remote``, module ``<module>_Remote``: ``str()`` is the remote text."""
    key = (cls, module)
    remote = _remote_classes.get(key)
    if remote is None:

        def __str__(self: BaseException) -> str:
            text: str = getattr(self, "_remote_message", "")
            return text

        remote = type(cls.__name__ + _REMOTE_SUFFIX, (cls,), {"__str__": __str__})
        remote.__module__ = module + _REMOTE_SUFFIX
        _remote_classes[key] = remote
    return remote
