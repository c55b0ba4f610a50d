"""The wire format's decoder: anything that is not a message is ``MalformedMessage``."""

from __future__ import annotations

import json

import pytest

from rpcmsg import _wire
from tests.hostile.strategies import deep


@pytest.mark.parametrize(
    "body",
    [
        deep(100_000),
        json.dumps({"oslo.version": "2.0", "oslo.message": deep(100_000).decode()}).encode(),
        b"1" * 100_000,
        b"\xff\xfe",
        b"[]",
        json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}).encode(),
    ],
    ids=["deep", "deep-enveloped", "long-int", "not-utf8", "list", "version"],
)
def test_malformed_bodies_raise_malformed_message(body: bytes) -> None:
    with pytest.raises(_wire.MalformedMessage):
        _wire.decode(body)
