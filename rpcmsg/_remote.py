"""Exceptions across the wire: described as JSON, rebuilt only from allowed modules.

Nothing is ever pickled. The description is oslo.messaging's ``failure`` string: a JSON object
with ``class``, ``module``, ``message``, ``tb`` (traceback lines), ``args`` and ``kwargs``.
An exception is rebuilt as its own class only when its module is ``builtins`` or listed in
``allowed_remote_exmods``; rpcmsg's and oslo.messaging's own exceptions are rebuilt as the
rpcmsg class of the same name. Everything else becomes :class:`RemoteError`.
"""

from __future__ import annotations

import importlib
import json
import logging
import traceback
from collections.abc import Iterable
from typing import Any

from rpcmsg import exceptions

__all__ = ["deserialize_failure", "serialize_failure"]

LOG = logging.getLogger(__name__)

_REMOTE_SUFFIX = "_Remote"
_OWN_MODULE_PREFIXES = ("rpcmsg.", "oslo_messaging.")
_remote_classes: dict[type[BaseException], type[BaseException]] = {}


def serialize_failure(exc: BaseException, tb: Any = None) -> str:
    """Describe ``exc`` as the JSON ``failure`` string of a reply."""
    cls = type(exc)
    name = cls.__name__.removesuffix(_REMOTE_SUFFIX)
    module = cls.__module__.removesuffix(_REMOTE_SUFFIX)
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
        if isinstance(value, list):
            return [_jsonable(v) for v in value]
        if isinstance(value, dict):
            return {str(k): _jsonable(v) for k, v in value.items()}
        return str(value)


def deserialize_failure(data: str | dict[str, Any], allowed: Iterable[str]) -> BaseException:
    """Rebuild the exception a ``failure`` describes, or a ``RemoteError`` when not allowed."""
    try:
        failure = json.loads(data) if isinstance(data, str) else dict(data)
        name = str(failure.get("class", "Exception"))
        module = str(failure.get("module", ""))
        message = str(failure.get("message", ""))
        tb = failure.get("tb") or []
        trace = "".join(tb) if isinstance(tb, list) else str(tb)
    except (ValueError, TypeError, AttributeError):
        return exceptions.RemoteError("UnknownError", str(data), "")

    cls = _allowed_class(name, module, allowed)
    if cls is None:
        return exceptions.RemoteError(name, message, trace)
    args = failure.get("args") or []
    kwargs = failure.get("kwargs") or {}
    try:
        remote_cls = _remote_class(cls)
        exc = remote_cls(*args, **kwargs) if isinstance(kwargs, dict) else remote_cls(*args)
    except Exception:
        return exceptions.RemoteError(name, message, trace)
    try:
        exc._remote_message = message  # type: ignore[attr-defined]
        exc._remote_traceback = trace  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        pass
    return exc


def _allowed_class(name: str, module: str, allowed: Iterable[str]) -> type[BaseException] | None:
    if module.startswith(_OWN_MODULE_PREFIXES) or module == "rpcmsg":
        cls = getattr(exceptions, name, None)
        return cls if isinstance(cls, type) and issubclass(cls, Exception) else None
    if module != "builtins" and module not in set(allowed):
        return None
    try:
        candidate = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    if isinstance(candidate, type) and issubclass(candidate, Exception):
        return candidate
    return None


def _remote_class(cls: type[BaseException]) -> type[BaseException]:
    """A subclass whose ``str()`` adds the remote traceback, cached per class."""
    remote = _remote_classes.get(cls)
    if remote is None:

        def __str__(self: BaseException) -> str:
            message = getattr(self, "_remote_message", None)
            if message is None:
                return cls.__str__(self)
            trace = getattr(self, "_remote_traceback", "")
            return f"{message}\n{trace}" if trace else message

        remote = type(
            cls.__name__ + _REMOTE_SUFFIX,
            (cls,),
            {"__str__": __str__, "__module__": cls.__module__ + _REMOTE_SUFFIX},
        )
        _remote_classes[cls] = remote
    return remote
