from __future__ import annotations

import json

import pytest

import rpcmsg
from rpcmsg._remote import deserialize_failure, serialize_failure


class Local(Exception):
    pass


def describe(exc: BaseException) -> str:
    try:
        raise exc
    except BaseException as caught:
        return serialize_failure(caught)


def test_failure_format_is_oslo_compatible() -> None:
    data = json.loads(describe(ValueError("bad", 3)))
    assert data["class"] == "ValueError"
    assert data["module"] == "builtins"
    assert data["message"] == "('bad', 3)"
    assert data["args"] == ["bad", 3]
    assert data["kwargs"] == {}
    assert any("Traceback" in line for line in data["tb"])


def test_builtins_rebuilt_with_remote_traceback_in_str() -> None:
    exc = deserialize_failure(describe(KeyError("k")), [])
    assert isinstance(exc, KeyError)
    assert "Traceback" in str(exc)
    assert type(exc).__name__ == "KeyError_Remote"


def test_not_allowed_becomes_remote_error() -> None:
    exc = deserialize_failure(describe(Local("x")), [])
    assert isinstance(exc, rpcmsg.RemoteError)
    assert exc.exc_type == "Local" and exc.value == "x"


def test_allowed_module_rebuilt() -> None:
    exc = deserialize_failure(describe(Local("x")), [__name__])
    assert isinstance(exc, Local) and exc.args == ("x",)


def test_rebuilt_remote_exception_serializes_as_original() -> None:
    exc = deserialize_failure(describe(ValueError("v")), [])
    again = json.loads(describe(exc))
    assert again["class"] == "ValueError" and again["module"] == "builtins"


@pytest.mark.parametrize(
    "exc",
    [
        rpcmsg.NoSuchMethod("m"),
        rpcmsg.UnsupportedVersion("2.0", method="m"),
        rpcmsg.RPCVersionCapError("2.0", "1.0"),
        rpcmsg.RemoteError("T", "v", "tb"),
        rpcmsg.MessagingTimeout("slow"),
    ],
)
def test_own_exceptions_round_trip_with_attributes(exc: rpcmsg.MessagingException) -> None:
    back = deserialize_failure(describe(exc), [])
    assert isinstance(back, type(exc))
    assert back.args == exc.args
    assert vars(exc).items() <= vars(back).items()


def test_oslo_messaging_exceptions_map_to_rpcmsg() -> None:
    failure = json.dumps(
        {
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method x",
            "tb": [],
            "args": ["x"],
            "kwargs": {},
        }
    )
    exc = deserialize_failure(failure, [])
    assert isinstance(exc, rpcmsg.NoSuchMethod) and exc.method == "x"


def test_garbage_failure_is_remote_error_not_crash() -> None:
    assert isinstance(deserialize_failure("{not json", []), rpcmsg.RemoteError)
    bad_args = json.dumps({"class": "ValueError", "module": "builtins", "kwargs": {"x": 1}})
    assert isinstance(deserialize_failure(bad_args, []), rpcmsg.RemoteError)
    not_exc = json.dumps({"class": "dumps", "module": "json", "args": []})
    assert isinstance(deserialize_failure(not_exc, ["json"]), rpcmsg.RemoteError)
