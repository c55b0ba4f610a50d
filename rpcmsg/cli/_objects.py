"""``module:object`` on the command line: import it and make RPC endpoints of its methods.

``rpcmsg serve`` and ``rpcmsg asyncapi`` take ``module``, ``module:name`` or
``module:name.attr`` (imported with the current directory on ``sys.path``, as ``python -m``
does). The object may be:

* an instance: its public methods (names without a leading ``_``) become endpoint methods;
* a class: instantiated without arguments, then as an instance;
* a module: its public functions (``__all__`` when it has one, else the functions defined in
  it);
* a list or tuple of those: one endpoint each.

Methods whose first parameter is ``ctxt``, ``context`` or ``ctx`` are rpcmsg endpoint
methods and get the request context; any other callable is called with the request's
arguments alone (a coroutine function is run to completion in the server's worker thread),
positional-only parameters filled from the arguments of the same name (so ``math.sqrt``
serves ``rpcmsg call TOPIC sqrt x=2``). An object's ``target`` attribute (a
:class:`~rpcmsg.Target`) gives the endpoint its namespace and version.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from rpcmsg.cli._common import CLIError
from rpcmsg.target import Target

__all__ = ["endpoints_from", "load_object"]

_CONTEXT_NAMES = ("ctxt", "context", "ctx")


def load_object(spec: str) -> Any:
    """The object ``spec`` (``module[:attr[.attr...]]``) names; ``CLIError`` when it cannot
    be imported or found."""
    module_name, _, attrs = spec.partition(":")
    if not module_name:
        raise CLIError(f"{spec!r} is not module:object")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attrs.split(".") if attrs else []:
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise CLIError(f"{spec!r}: {exc}") from exc
    return obj


def _public_names(obj: Any) -> list[str]:
    if inspect.ismodule(obj):
        names = getattr(obj, "__all__", None)
        if names is not None:
            return sorted(str(n) for n in names)
        return sorted(
            n
            for n, v in vars(obj).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == obj.__name__
        )
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def _adapt(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """An endpoint method ``(self, ctxt, **kwargs)`` calling ``func``, with ``func``'s
    docstring and its signature (the context added when ``func`` has none)."""
    try:
        sig: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        sig = None
    params = list(sig.parameters.values()) if sig else []
    takes_ctxt = bool(params) and params[0].name in _CONTEXT_NAMES
    positional = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY]

    def arguments(kwargs: dict[str, Any]) -> list[Any]:
        args = []
        for pname in positional:
            if pname not in kwargs:
                break
            args.append(kwargs.pop(pname))
        return args

    is_async = inspect.iscoroutinefunction(func)

    def method(self: Any, ctxt: Any, **kwargs: Any) -> Any:
        args = arguments(kwargs)
        result = func(ctxt, *args, **kwargs) if takes_ctxt else func(*args, **kwargs)
        # The command line's server is the sync one: a coroutine runs in its worker thread.
        return asyncio.run(result) if is_async else result

    method.rpcmsg_async = is_async  # type: ignore[attr-defined]
    method.__name__ = name
    method.__doc__ = inspect.getdoc(func)
    if sig is not None:
        ctxt_param = inspect.Parameter("ctxt", inspect.Parameter.POSITIONAL_ONLY)
        self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        shown = params if takes_ctxt else [ctxt_param, *params]
        setattr(method, "__signature__", sig.replace(parameters=[self_param, *shown]))  # noqa: B010
    return method


def _endpoint(obj: Any, spec: str) -> Any:
    if inspect.isclass(obj):
        try:
            obj = obj()
        except TypeError as exc:
            raise CLIError(f"{spec!r} is a class that needs arguments: {exc}") from exc
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, functools.partial)):
        raise CLIError(f"{spec!r} is a function: name the module or object that has it")
    attrs: dict[str, Any] = {}
    for name in _public_names(obj):
        if name == "target":
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that raises is not a method
            continue
        if inspect.isroutine(value):
            attrs[name] = _adapt(name, value)
    target = getattr(obj, "target", None)
    if isinstance(target, Target):
        attrs["target"] = target
    if inspect.ismodule(obj):
        label = obj.__name__
        attrs["__doc__"] = inspect.getdoc(obj)
    else:
        label = type(obj).__name__
        attrs["__doc__"] = inspect.getdoc(type(obj))
    attrs["rpcmsg_name"] = label
    return type(label.replace(".", "_"), (), attrs)()


def endpoints_from(spec: str) -> list[Any]:
    """The endpoints ``rpcmsg serve`` serves for ``spec`` (see the module docstring);
    ``CLIError`` when it names nothing servable or nothing with a public method."""
    obj = load_object(spec)
    objects = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    endpoints = [_endpoint(o, spec) for o in objects]
    if not any(inspect.isfunction(v) for e in endpoints for v in vars(type(e)).values()):
        raise CLIError(f"{spec!r} has no public method to serve")
    return endpoints
