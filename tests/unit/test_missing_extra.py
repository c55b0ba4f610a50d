"""A driver whose library is not installed says which extra installs it, from
``get_transport`` and the command line (the library's import is blocked in a child process:
uninstalling it would change the test environment)."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Blocks importing ``MODULE`` (and its submodules), as if it were not installed.
BLOCK = """
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} or name.startswith({module!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
"""

TRANSPORT = """
from oslo_config import cfg
import rpcmsg
try:
    rpcmsg.get_rpc_transport(cfg.ConfigOpts(), {url!r})
except rpcmsg.DriverLoadFailure as exc:
    print(exc)
"""

ASYNC_TRANSPORT = """
from oslo_config import cfg
import rpcmsg.asyncio
try:
    rpcmsg.asyncio.get_rpc_transport(cfg.ConfigOpts(), {url!r})
except rpcmsg.DriverLoadFailure as exc:
    print(exc)
"""


def _run(module: str, code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", BLOCK.format(module=module) + code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize(
    "module, url, extra",
    [
        ("amqp", "rabbit://guest:guest@127.0.0.1:5672/", "amqp"),
        ("kombu", "rabbit://guest:guest@127.0.0.1:5672/", "amqp"),
        ("redis", "redis://127.0.0.1:6379/0", "redis"),
    ],
)
def test_a_missing_library_names_its_extra(module: str, url: str, extra: str) -> None:
    said = _run(module, TRANSPORT.format(url=url))
    assert f"No module named '{module}" in said
    assert f"pip install 'rpcmsg[{extra}]'" in said


def test_the_async_side_names_the_extra_too() -> None:
    said = _run("aiormq", ASYNC_TRANSPORT.format(url="rabbit://guest:guest@127.0.0.1:5672/"))
    assert "pip install 'rpcmsg[amqp]'" in said


def test_the_command_line_names_the_extra() -> None:
    code = (
        "import sys; from rpcmsg.cli import main; sys.argv = "
        + repr(["rpcmsg", "--url", "rabbit://guest:guest@127.0.0.1:5672/", "ping", "nobody"])
        + "\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", BLOCK.format(module="amqp") + code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "pip install 'rpcmsg[amqp]'" in out.stdout + out.stderr, out.stdout + out.stderr
