from __future__ import annotations

from typing import Any

import pytest

import rpcmsg
from rpcmsg.rpc.dispatcher import IncomingRequest, version_is_compatible


@pytest.mark.parametrize(
    ("imp", "req", "ok"),
    [
        ("1.0", "1.0", True),
        ("1.3", "1.1", True),
        ("1.1", "1.3", False),
        ("2.0", "1.0", False),
        ("1.2.1", "1.2", True),
        ("1.2", "1.2.1", False),
        ("1.x", "1.0", False),
    ],
)
def test_version_is_compatible(imp: str, req: str, ok: bool) -> None:
    assert version_is_compatible(imp, req) is ok


class Api:
    target = rpcmsg.Target(version="1.1")

    def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b


def dispatch(dispatcher: rpcmsg.RPCDispatcher, **message: Any) -> Any:
    return dispatcher.dispatch(IncomingRequest({}, message))


def test_dispatch_and_errors() -> None:
    d = rpcmsg.RPCDispatcher([Api()], None)
    assert dispatch(d, method="add", args={"a": 1, "b": 2}) == 3
    assert dispatch(d, method="add", args={"a": 1, "b": 2}, version="1.1") == 3
    with pytest.raises(rpcmsg.UnsupportedVersion):
        dispatch(d, method="add", args={}, version="1.2")
    with pytest.raises(rpcmsg.NoSuchMethod):
        dispatch(d, method="sub", args={})
    with pytest.raises(rpcmsg.RPCDispatcherError):
        dispatch(d, args={})
    with pytest.raises(rpcmsg.RPCDispatcherError):
        dispatch(d, method="add", args=[1, 2])
    with pytest.raises(TypeError):
        dispatch(d, method="add", args={"a": 1})


def test_access_policies() -> None:
    class E:
        def _hidden(self, ctxt: Any) -> str:
            return "hidden"

        @rpcmsg.expose
        def shown(self, ctxt: Any) -> str:
            return "shown"

    legacy = rpcmsg.RPCDispatcher([E()], None, rpcmsg.LegacyRPCAccessPolicy)
    assert dispatch(legacy, method="_hidden", args={}) == "hidden"
    default = rpcmsg.RPCDispatcher([E()], None)
    with pytest.raises(rpcmsg.NoSuchMethod):
        dispatch(default, method="_hidden", args={})
    explicit = rpcmsg.RPCDispatcher([E()], None, rpcmsg.ExplicitRPCAccessPolicy())
    assert dispatch(explicit, method="shown", args={}) == "shown"
    with pytest.raises(TypeError):
        rpcmsg.RPCDispatcher([E()], None, access_policy=object())  # type: ignore[arg-type]
