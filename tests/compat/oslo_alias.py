"""Make ``import oslo_messaging`` give rpcmsg, and ``oslo_messaging.tests`` oslo's own tests.

Runs in the compat virtualenv only (see ``suite.py``). ``oslo_messaging.X`` is the very module
object ``rpcmsg.X`` (so ``mock.patch('oslo_messaging.rpc.client.Foo')`` patches rpcmsg), except
``oslo_messaging.tests*``, which is loaded from the tests extracted from the oslo.messaging
wheel. A name rpcmsg does not have fails to import, as it would for a user, except a few
private oslo modules that oslo's test modules import at the top (``shims/``, see its README).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

ALIAS = "oslo_messaging"
TARGET = "rpcmsg"
SHIMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shims")


class _SameModule(importlib.abc.Loader):
    """Hands the import system the already imported rpcmsg module."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self._own_spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias spec on it: give rpcmsg its own back, so its
        # relative imports and __spec__.name stay rpcmsg's.
        module.__spec__ = self._own_spec


class OsloAlias(importlib.abc.MetaPathFinder):
    """Meta path finder for ``oslo_messaging`` names; ``tests_dir`` is the extracted
    ``oslo_messaging/tests`` directory."""

    def __init__(self, tests_dir: str) -> None:
        self.tests_dir = tests_dir

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        if fullname == ALIAS + ".tests":
            return importlib.util.spec_from_file_location(
                fullname,
                os.path.join(self.tests_dir, "__init__.py"),
                submodule_search_locations=[self.tests_dir],
            )
        if fullname.startswith(ALIAS + ".tests."):
            return None  # found by the path finder in the parent's __path__ (the tests dir)
        target_name = TARGET + fullname[len(ALIAS) :]
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing != target_name and not target_name.startswith(missing + "."):
                raise
            return self._shim_spec(fullname)
        return importlib.machinery.ModuleSpec(
            fullname, _SameModule(module), is_package=hasattr(module, "__path__")
        )

    def _shim_spec(self, fullname):  # type: ignore[no-untyped-def]
        """A private oslo module rpcmsg lacks, from ``shims/`` when one is there."""
        parts = fullname.split(".")[1:]
        if not parts[0].startswith("_"):
            return None
        base = os.path.join(SHIMS, *parts)
        if os.path.isdir(base):
            return importlib.util.spec_from_file_location(
                fullname, os.path.join(base, "__init__.py"), submodule_search_locations=[base]
            )
        if os.path.exists(base + ".py"):
            return importlib.util.spec_from_file_location(fullname, base + ".py")
        return None


def install(tests_dir: str) -> None:
    sys.meta_path.insert(0, OsloAlias(tests_dir))
