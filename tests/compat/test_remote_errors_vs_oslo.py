"""Remote errors: rpcmsg describes and rebuilds them as oslo.messaging does, byte for byte.

oslo.messaging (in its own virtualenv, ``RPCMSG_OSLO_PYTHON``) and rpcmsg each describe the
same exceptions; then each library rebuilds every description, from both, under several
``allowed_remote_exmods`` lists, and the outcomes (class, module, ``str()``'s first line,
``args`` count, ``RemoteError.exc_type``) must be the same.
"""

from __future__ import annotations

import configparser
import json
import subprocess
from typing import Any

import rpcmsg
import rpcmsg.exceptions
from rpcmsg._remote import OSLO_MODULES, deserialize_failure, serialize_failure
from tests.compat.oslo_env import oslo_python

# (label, how to build it on rpcmsg's side)
CASES: dict[str, Any] = {
    "builtin": lambda: ValueError("bad value", 3),
    "keyerror": lambda: KeyError("k"),
    "allowed_module": lambda: configparser.Error("config says no"),
    "no_such_method": lambda: rpcmsg.NoSuchMethod("nope"),
    "unsupported_version": lambda: rpcmsg.UnsupportedVersion("2.0", method="echo"),
    "timeout": lambda: rpcmsg.MessagingTimeout("slow"),
    "remote_error": lambda: rpcmsg.RemoteError("T", "v", ["tb\n"]),
}
ALLOWED = [
    [],
    ["configparser"],
    ["oslo_messaging.rpc.dispatcher", "oslo_messaging.exceptions", "oslo_messaging.rpc.client"],
]

OSLO_SIDE = r"""
import configparser, json, sys
import oslo_messaging
from oslo_messaging._drivers import common
from oslo_messaging.rpc import dispatcher

cases = {
    "builtin": lambda: ValueError("bad value", 3),
    "keyerror": lambda: KeyError("k"),
    "allowed_module": lambda: configparser.Error("config says no"),
    "no_such_method": lambda: dispatcher.NoSuchMethod("nope"),
    "unsupported_version": lambda: dispatcher.UnsupportedVersion("2.0", method="echo"),
    "timeout": lambda: oslo_messaging.MessagingTimeout("slow"),
    "remote_error": lambda: oslo_messaging.RemoteError("T", "v", ["tb\n"]),
}
request = json.load(sys.stdin)
described = {}
for label, make in cases.items():
    try:
        raise make()
    except Exception:
        described[label] = common.serialize_remote_exception(sys.exc_info())

def outcome(exc):
    first = (str(exc).splitlines() or [""])[0]
    return [type(exc).__name__, type(exc).__module__, first, len(exc.args),
            getattr(exc, "exc_type", None) if isinstance(exc, oslo_messaging.RemoteError)
            else None]

rebuilt = [outcome(common.deserialize_remote_exception(f, allowed))
           for f, allowed in request]
print(json.dumps({"described": described, "rebuilt": rebuilt}))
"""


def _describe(make: Any) -> str:
    try:
        raise make()
    except Exception as exc:
        return serialize_failure(exc)


def _outcome(exc: BaseException) -> list[Any]:
    first = (str(exc).splitlines() or [""])[0]
    exc_type = exc.exc_type if isinstance(exc, rpcmsg.RemoteError) else None
    module = type(exc).__module__
    if module == rpcmsg.exceptions.__name__:  # rpcmsg's home of oslo's classes
        module = OSLO_MODULES[type(exc).__name__]
    return [type(exc).__name__, module, first, len(exc.args), exc_type]


def _oslo(requests: list[list[Any]]) -> dict[str, Any]:
    proc = subprocess.run(
        [oslo_python(), "-c", OSLO_SIDE],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _comparable(failure: str) -> dict[str, Any]:
    data = json.loads(failure)
    del data["tb"]  # file names and lines differ between the two libraries
    return data


def test_described_as_oslo_describes_them() -> None:
    oslo = _oslo([])["described"]
    ours = {label: _describe(make) for label, make in CASES.items()}
    for label in CASES:
        assert _comparable(ours[label]) == _comparable(oslo[label]), label


def test_rebuilt_as_oslo_rebuilds_them_from_either_side() -> None:
    ours = {label: _describe(make) for label, make in CASES.items()}
    oslo_described = _oslo([])["described"]
    requests = [
        [failure, allowed]
        for failure in [*ours.values(), *oslo_described.values()]
        for allowed in ALLOWED
    ]
    oslo_rebuilt = _oslo(requests)["rebuilt"]
    for (failure, allowed), theirs in zip(requests, oslo_rebuilt, strict=True):
        mine = _outcome(deserialize_failure(failure, allowed))
        assert mine == theirs, (json.loads(failure)["class"], allowed)
