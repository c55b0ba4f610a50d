"""What the compat tests share: finding oslo.messaging's virtualenv."""

from __future__ import annotations

import os

import pytest


def oslo_python() -> str:
    """oslo.messaging's python (``RPCMSG_OSLO_PYTHON``); skip without it, but fail in CI."""
    path = os.environ.get("RPCMSG_OSLO_PYTHON", "")
    if not path or not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail("CI needs oslo.messaging's virtualenv: set RPCMSG_OSLO_PYTHON")
        pytest.skip("oslo.messaging's python not found (set RPCMSG_OSLO_PYTHON)")
    return path
