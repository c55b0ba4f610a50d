"""Hypothesis strategies for hostile request bodies: what a broken or malicious peer could put
on a server's queue."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["bodies", "deep", "messages"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
#: Reply addresses that look real, belong to nobody, or name keys of something else.
reply_queues = st.one_of(
    json_values,
    st.sampled_from(["", "reply_", "reply_nobody", "rpcmsg:x:reply:nobody", "rpcmsg:x:q:t"]),
)
#: A request with every field possibly missing or of the wrong type.
messages = st.fixed_dictionaries(
    {},
    optional={
        "method": st.one_of(json_values, st.sampled_from(["echo", "__init__", "_private"])),
        "args": st.one_of(json_values, st.dictionaries(st.text(max_size=8), json_values)),
        "namespace": json_values,
        "version": st.one_of(json_values, st.sampled_from(["1.0", "2.0", "1.x", "9" * 30])),
        "_msg_id": json_values,
        "_reply_q": reply_queues,
        "_timeout": json_values,
        "_unique_id": json_values,
        "_context_user": json_values,
    },
)


def deep(depth: int) -> bytes:
    """A JSON document nested ``depth`` levels deep (beyond what a recursive decoder takes)."""
    return b"[" * depth + b"]" * depth


def _enveloped(inner: Any, version: Any) -> bytes:
    return json.dumps({"oslo.version": version, "oslo.message": inner}).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    messages.map(lambda m: json.dumps(m).encode()),
    st.builds(
        _enveloped,
        st.one_of(messages.map(json.dumps), json_values, st.text(max_size=30)),
        st.one_of(st.sampled_from(["2.0", "2.9", "1.0", "3.0", ""]), json_values),
    ),
    st.sampled_from(
        [
            deep(100_000),
            _enveloped(deep(100_000).decode(), "2.0"),
            b'{"method": "echo", "args": {"value": ' + deep(50_000) + b"}}",
            b"1" * 100_000,  # beyond int() digit limits
            b'{"method": "echo", "args": {"value": "' + b"x" * 3_000_000 + b'"}}',
            b"\xff\xfe\x00garbage",
            b"",
        ]
    ),
)
