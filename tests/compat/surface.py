"""Diff the public surface of an installed oslo.messaging against rpcmsg's.

Each side is dumped as JSON by its own interpreter (oslo.messaging's virtualenv for one,
rpcmsg's for the other: the two never share a process), then compared::

    python tests/compat/surface.py [--oslo-python .venv-oslo/bin/python]   # prints the diff
    python tests/compat/surface.py dump oslo_messaging|rpcmsg               # one side's JSON

What is compared, module by module (the modules services import): the public names (those
in ``__all__``, else the classes and functions the module defines), function and method
signatures (parameter names, kinds and defaults; rpcmsg may add parameters that have a
default), each exception class's base classes, and the options of ``opts.list_opts()``
(name, group, type, default). Every difference is printed as one line, a key then the detail;
``surface_intended.txt`` lists the differences kept on purpose, each with its reason, and
the exit status is 1 when another one is found. Stdlib only.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import inspect
import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)  # run as a script in either virtualenv, or imported by the tests

from exclusions import load_exclusions  # noqa: E402

INTENDED = os.path.join(HERE, "surface_intended.txt")

MODULES = [
    "",
    "rpc",
    "rpc.client",
    "rpc.server",
    "rpc.dispatcher",
    "rpc.transport",
    "notify",
    "notify.notifier",
    "notify.listener",
    "notify.dispatcher",
    "notify.filter",
    "serializer",
    "target",
    "transport",
    "exceptions",
    "conffixture",
    "opts",
    "dispatcher",
    "server",
]

_EMPTY = "<required>"


# -- dumping (runs in the interpreter of one side) ---------------------------------------


def _default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return _EMPTY
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_default(v) for v in value]
    if isinstance(value, type):
        return f"<class {value.__name__}>"
    if callable(value):
        return f"<callable {getattr(value, '__name__', type(value).__name__)}>"
    return "<object>"  # a sentinel (oslo's ``_marker = object()``) or another instance


def _signature(obj: Any) -> list[list[Any]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [[p.name, p.kind.name, _default(p.default)] for p in sig.parameters.values()]


def _public_names(module: Any) -> list[str]:
    """``__all__`` plus the public classes and functions the module defines; for a package
    without ``__all__`` (oslo_messaging's ``__init__`` star-imports), every public class and
    function it offers."""
    package_without_all = hasattr(module, "__path__") and not hasattr(module, "__all__")
    names = set(getattr(module, "__all__", ()))
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if package_without_all or getattr(obj, "__module__", None) == module.__name__:
            names.add(name)
    return sorted(names)


def _describe(obj: Any) -> dict[str, Any]:
    if inspect.isclass(obj):
        info: dict[str, Any] = {"kind": "class", "init": _signature(obj)}
        if issubclass(obj, BaseException):
            info["kind"] = "exception"
            info["bases"] = sorted(
                c.__name__ for c in obj.__mro__[1:] if c not in (object, BaseException)
            )
        methods = {}
        for name in dir(obj):
            if name.startswith("_") and name != "__init__":
                continue
            attr = inspect.getattr_static(obj, name)
            if isinstance(attr, staticmethod | classmethod):
                methods[name] = {"static": isinstance(attr, staticmethod)}
                methods[name]["sig"] = _signature(getattr(obj, name))
            elif inspect.isfunction(attr):
                methods[name] = {"static": False, "sig": _signature(attr)}
            elif isinstance(attr, property):
                methods[name] = {"property": True}
        info["methods"] = methods
        return info
    if callable(obj):
        return {"kind": "function", "sig": _signature(obj)}
    return {"kind": "value", "type": type(obj).__name__}


def _options(opts_module: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group, opts in opts_module.list_opts():
        name = group if isinstance(group, str) or group is None else group.name
        for opt in opts:
            out[f"{name or 'DEFAULT'}.{opt.dest}"] = {
                "opt": type(opt).__name__,
                "type": type(opt.type).__name__,
                "default": _default(opt.default),
            }
    return out


def dump(package: str) -> dict[str, Any]:
    """The surface of ``package`` (``oslo_messaging`` or ``rpcmsg``) as plain data."""
    if package == "rpcmsg":  # this checkout's rpcmsg, whatever the virtualenv has installed
        sys.path[:0] = [ROOT, os.path.join(ROOT, "drivers")]
    modules: dict[str, Any] = {}
    for rel in MODULES:
        full = package + ("." + rel if rel else "")
        try:
            module = importlib.import_module(full)
        except ImportError as exc:
            modules[rel] = {"missing": str(exc)}
            continue
        public = _public_names(module)
        # Other public classes and functions it offers (imported from elsewhere): an oslo
        # name that rpcmsg defines in another module and imports is present all the same.
        also = [
            n
            for n, obj in vars(module).items()
            if n not in public
            and not n.startswith("_")
            and (inspect.isclass(obj) or inspect.isfunction(obj))
        ]
        modules[rel] = {
            "names": {n: _describe(getattr(module, n)) for n in public if hasattr(module, n)}
            | {n: {"kind": "missing"} for n in public if not hasattr(module, n)},
            "also": {n: _describe(getattr(module, n)) for n in also},
        }
    opts = importlib.import_module(package + ".opts")
    return {"modules": modules, "options": _options(opts)}


# -- comparing ---------------------------------------------------------------------------


def _sig_problems(oslo: list[list[Any]] | None, ours: list[list[Any]] | None) -> list[str]:
    """What an oslo-style call could trip over: a missing parameter, another default, a
    positional parameter moved, or a new parameter without a default. A default rpcmsg gives
    to a parameter oslo requires is not a difference: every oslo-style call still works."""
    if oslo is None or ours is None:
        return []
    problems = []
    ours_by_name = {p[0]: p for p in ours}
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    oslo_pos = [p[0] for p in oslo if p[1] in positional]
    our_pos = [p[0] for p in ours if p[1] in positional]
    takes_var_kw = any(p[1] == "VAR_KEYWORD" for p in ours)
    for name, kind, default in oslo:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if not any(p[1] == kind for p in ours):
                problems.append(f"no *{name}" if kind == "VAR_POSITIONAL" else f"no **{name}")
            continue
        mine = ours_by_name.get(name)
        if mine is None:
            if not takes_var_kw:
                problems.append(f"no parameter {name!r}")
            continue
        if default != _EMPTY and mine[2] != default:
            problems.append(f"{name}: default {mine[2]!r}, oslo {default!r}")
    if our_pos[: len(oslo_pos)] != oslo_pos[: len(our_pos)]:
        problems.append(f"positional order {our_pos}, oslo {oslo_pos}")
    for name, kind, default in ours:
        if name not in {p[0] for p in oslo} and default == _EMPTY and "VAR" not in kind:
            problems.append(f"extra required parameter {name!r}")
    return problems


def compare(oslo: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, detail)`` for each difference; keys are what ``surface_intended.txt`` lists."""
    diffs: list[tuple[str, str]] = []
    for rel, o_mod in oslo["modules"].items():
        where = rel or "<top>"
        r_mod = ours["modules"].get(rel, {"missing": "not dumped"})
        if "missing" in o_mod:
            diffs.append((f"module {where}", f"not importable on oslo's side: {o_mod['missing']}"))
            continue
        if "missing" in r_mod:
            diffs.append((f"module {where}", f"missing in rpcmsg: {r_mod['missing']}"))
            continue
        for name, o_info in sorted(o_mod["names"].items()):
            r_info = r_mod["names"].get(name) or r_mod.get("also", {}).get(name)
            key = f"{where}:{name}"
            if r_info is None or r_info["kind"] == "missing":
                diffs.append((key, "missing in rpcmsg"))
                continue
            diffs.extend(_compare_obj(key, o_info, r_info))
    for key, o_opt in sorted(oslo["options"].items()):
        r_opt = ours["options"].get(key)
        if r_opt is None:
            diffs.append((f"option {key}", "missing in rpcmsg"))
        elif r_opt != o_opt:
            detail = ", ".join(
                f"{k} {r_opt.get(k)!r} (oslo {v!r})" for k, v in o_opt.items() if r_opt.get(k) != v
            )
            diffs.append((f"option {key}", detail))
    return diffs


def _compare_obj(key: str, o: dict[str, Any], r: dict[str, Any]) -> list[tuple[str, str]]:
    diffs: list[tuple[str, str]] = []
    if o["kind"] != r["kind"] and not {o["kind"], r["kind"]} <= {"class", "function"}:
        return [(key, f"a {r['kind']} in rpcmsg, a {o['kind']} in oslo")]
    if o["kind"] == "exception":
        missing = sorted(set(o["bases"]) - set(r["bases"]))
        if missing:
            diffs.append((f"{key} bases", f"not a subclass of {', '.join(missing)}"))
    sig_o = o.get("init") if o["kind"] != "function" else o.get("sig")
    sig_r = r.get("init") if r["kind"] != "function" else r.get("sig")
    for problem in _sig_problems(sig_o, sig_r):
        diffs.append((f"{key}()", problem))
    for meth, o_m in sorted(o.get("methods", {}).items()):
        if meth == "__init__":
            continue
        r_m = r.get("methods", {}).get(meth)
        if r_m is None:
            diffs.append((f"{key}.{meth}", "missing in rpcmsg"))
            continue
        if o_m.get("property") or r_m.get("property"):
            continue
        if o_m.get("static") and not r_m.get("static"):
            diffs.append((f"{key}.{meth}", "a static method in oslo, not in rpcmsg"))
            continue
        for problem in _sig_problems(o_m.get("sig"), r_m.get("sig")):
            diffs.append((f"{key}.{meth}()", problem))
    return diffs


def load_intended(path: str = INTENDED) -> list[tuple[str, str]]:
    """``(key glob, reason)`` pairs from ``surface_intended.txt``."""
    return load_exclusions(path)


def unintended(
    diffs: list[tuple[str, str]], intended: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    return [d for d in diffs if not any(fnmatch.fnmatchcase(d[0], g) for g, _ in intended)]


def dump_with(python: str, package: str) -> dict[str, Any]:
    proc = subprocess.run(
        [python, os.path.abspath(__file__), "dump", package],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="diff", choices=["diff", "dump"])
    parser.add_argument("package", nargs="?", default="rpcmsg")
    parser.add_argument("--oslo-python", default=os.environ.get("RPCMSG_OSLO_PYTHON"))
    parser.add_argument("--rpcmsg-python", default=sys.executable)
    args = parser.parse_args(argv)
    if args.mode == "dump":
        json.dump(dump(args.package), sys.stdout, indent=1, sort_keys=True)
        return 0
    if not args.oslo_python:
        parser.error("no oslo.messaging python (--oslo-python or RPCMSG_OSLO_PYTHON)")
    diffs = compare(
        dump_with(args.oslo_python, "oslo_messaging"), dump_with(args.rpcmsg_python, "rpcmsg")
    )
    intended = load_intended()
    bad = unintended(diffs, intended)
    for key, detail in diffs:
        mark = "  " if (key, detail) not in bad else "!!"
        print(f"{mark} {key}: {detail}")
    print(f"{len(diffs)} differences, {len(bad)} not listed in {os.path.basename(INTENDED)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
