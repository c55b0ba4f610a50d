from __future__ import annotations

import json
import sys

import pytest

import rpcmsg
import rpcmsg.exceptions
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


def test_builtin_comes_back_as_the_builtin_class_itself() -> None:
    exc = deserialize_failure(describe(KeyError("k")), [])
    assert type(exc) is KeyError
    assert exc.args[0].startswith("'k'\nTraceback")
    value = deserialize_failure(describe(ValueError("bad value")), [])
    assert type(value) is ValueError and str(value).startswith("bad value\n")
    # Python 2's name for the builtins module, as oslo.messaging accepts it.
    py2 = json.loads(describe(ValueError("v")))
    py2["module"] = "exceptions"
    assert type(deserialize_failure(json.dumps(py2), [])) is ValueError


def test_not_allowed_becomes_remote_error_with_oslos_message() -> None:
    failure = {"class": "Local", "module": __name__, "message": "x", "tb": ["tb\n"]}
    exc = deserialize_failure(json.dumps(failure), [])
    assert isinstance(exc, rpcmsg.RemoteError)
    assert exc.exc_type == "Local" and exc.value == "x" and exc.traceback == ["tb\n"]
    assert str(exc) == "Remote error: Local x\n['tb\\n']."
    assert exc.args == (str(exc),)


def test_allowed_module_rebuilt_as_remote_subclass() -> None:
    exc = deserialize_failure(describe(Local("x")), [__name__])
    assert isinstance(exc, Local) and exc.args == ("x",)
    assert type(exc).__name__ == "Local_Remote"
    assert type(exc).__module__ == __name__ + "_Remote"
    assert str(exc).startswith("x\nTraceback")


def test_rebuilt_remote_exception_serializes_as_original() -> None:
    exc = deserialize_failure(describe(Local("v")), [__name__])
    again = json.loads(describe(exc))
    assert again["class"] == "Local" and again["module"] == __name__


# Rebuilding calls the class with the wire's ``args`` (``(message,)``), as oslo.messaging
# does: a class whose constructor needs more (RPCVersionCapError) comes back as RemoteError
# there too.
@pytest.mark.parametrize(
    ("exc", "oslo_module"),
    [
        (rpcmsg.NoSuchMethod("m"), "oslo_messaging.rpc.dispatcher"),
        (rpcmsg.UnsupportedVersion("2.0", method="m"), "oslo_messaging.rpc.dispatcher"),
        (rpcmsg.RemoteError("T", "v", "tb"), "oslo_messaging.rpc.client"),
        (rpcmsg.MessagingTimeout("slow"), "oslo_messaging.exceptions"),
        (rpcmsg.exceptions.ConfigurationError("c"), "oslo_messaging.exceptions"),
        (rpcmsg.exceptions.TransportDriverError("d"), "oslo_messaging._drivers.base"),
    ],
)
def test_own_exceptions_travel_under_oslos_module_names(
    exc: rpcmsg.MessagingException, oslo_module: str
) -> None:
    data = json.loads(describe(exc))
    assert data["module"] == oslo_module and data["class"] == type(exc).__name__
    # Not allowed: RemoteError, as an oslo.messaging caller gets.
    back = deserialize_failure(describe(exc), [])
    assert type(back) is rpcmsg.RemoteError and back.exc_type == type(exc).__name__
    # Allowed by oslo's module name: rpcmsg's class, as <Name>_Remote, without oslo imported.
    rebuilt = deserialize_failure(describe(exc), [oslo_module])
    assert isinstance(rebuilt, type(exc))
    assert type(rebuilt).__name__ == type(exc).__name__ + "_Remote"
    assert str(rebuilt).startswith(str(exc) + "\n")
    assert "oslo_messaging" not in sys.modules


@pytest.mark.parametrize(
    ("exc", "oslo_module"),
    [
        (rpcmsg.RPCVersionCapError("2.0", "1.0"), "oslo_messaging.rpc.client"),
        (rpcmsg.InvalidTransportURL("u", "bad"), "oslo_messaging.transport"),
    ],
)
def test_own_exceptions_needing_more_than_the_message_are_remote_errors(
    exc: rpcmsg.MessagingException, oslo_module: str
) -> None:
    assert json.loads(describe(exc))["module"] == oslo_module
    back = deserialize_failure(describe(exc), [oslo_module])
    assert type(back) is rpcmsg.RemoteError and back.exc_type == type(exc).__name__


def test_oslo_peer_failure_rebuilt_as_rpcmsg_class_when_allowed() -> None:
    failure = json.dumps(
        {
            "class": "NoSuchMethod",
            "module": "oslo_messaging.rpc.dispatcher",
            "message": "Endpoint does not support RPC method x",
            "tb": [],
            "args": ["Endpoint does not support RPC method x"],
            "kwargs": {},
        }
    )
    assert isinstance(deserialize_failure(failure, []), rpcmsg.RemoteError)
    exc = deserialize_failure(failure, ["oslo_messaging.rpc.dispatcher"])
    assert isinstance(exc, rpcmsg.NoSuchMethod)
    assert str(exc) == "Endpoint does not support RPC method x\n"


def test_unknown_module_even_if_allowed_is_remote_error() -> None:
    failure = json.dumps({"class": "Exception", "module": "notexist", "message": "m"})
    assert isinstance(deserialize_failure(failure, ["notexist"]), rpcmsg.RemoteError)
    not_exception = json.dumps({"class": "SystemExit", "module": "builtins", "message": "m"})
    assert isinstance(deserialize_failure(not_exception, []), rpcmsg.RemoteError)


def test_messaging_exceptions_take_args_like_oslos() -> None:
    assert str(rpcmsg.MessagingException()) == ""
    assert rpcmsg.MessagingException().args == ()
    assert str(rpcmsg.MessagingTimeout("a")) == "a"
    assert rpcmsg.MessagingTimeout("a", "b").args == ("a", "b")
    exc = rpcmsg.NoSuchMethod("m")
    assert exc.args == ("Endpoint does not support RPC method m",) and exc.method == "m"
    assert str(rpcmsg.UnsupportedVersion("2.0")) == "Endpoint does not support RPC version 2.0"
    assert issubclass(rpcmsg.exceptions.ConfigurationError, rpcmsg.MessagingException)
    assert issubclass(rpcmsg.ExecutorLoadFailure, rpcmsg.MessagingServerError)


def test_json_payload_serializer_serialize_entity_is_static_as_oslos() -> None:
    assert rpcmsg.JsonPayloadSerializer.serialize_entity(None, (1, 2)) == [1, 2]


def test_garbage_failure_is_remote_error_not_crash() -> None:
    assert isinstance(deserialize_failure("{not json", []), rpcmsg.RemoteError)
    bad_args = json.dumps({"class": "ValueError", "module": "builtins", "kwargs": {"x": 1}})
    assert isinstance(deserialize_failure(bad_args, []), rpcmsg.RemoteError)
    not_exc = json.dumps({"class": "dumps", "module": "json", "args": []})
    assert isinstance(deserialize_failure(not_exc, ["json"]), rpcmsg.RemoteError)
