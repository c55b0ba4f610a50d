"""Helpers for testing code that uses rpcmsg: see :mod:`rpcmsg.testing.pytest_plugin` and
:class:`rpcmsg.conffixture.ConfFixture`."""

from __future__ import annotations

from rpcmsg.testing.helpers import RunningServer, fresh_fake_url

__all__ = ["RunningServer", "fresh_fake_url"]
