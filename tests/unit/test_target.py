from __future__ import annotations

import rpcmsg


def test_target_copy_equality_and_hash() -> None:
    t = rpcmsg.Target(topic="compute", version="1.2")
    t2 = t(server="host1")
    assert t2.server == "host1" and t2.topic == "compute" and t2.version == "1.2"
    assert t.server is None
    assert t(server="host1") == t2 and hash(t(server="host1")) == hash(t2)
    assert t != t2
    assert "topic=compute" in repr(t2) and "server=host1" in repr(t2)


def test_accepted_namespaces() -> None:
    t = rpcmsg.Target(namespace="a", legacy_namespaces=["b"])
    assert t.accepted_namespaces == ["a", "b"]
    assert rpcmsg.Target().accepted_namespaces == [None]
