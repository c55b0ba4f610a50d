"""RabbitMQ nodes a test starts for itself: a TLS listener, a three-node cluster.

Each node has a name, AMQP and distribution ports, data and log directories of its own (in the
test's temporary directory), so the shared broker on 5672 is never touched. The nodes run as
the current user with ``HOME`` set to a directory holding a cookie of their own, which the
``rabbitmqctl`` calls against them use too. Plugins are off (an empty enabled-plugins file)
and the system's ``rabbitmq-env.conf`` is not read.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import free_port, need

__all__ = ["RabbitNode", "cluster_url", "join_cluster", "rabbit_nodes"]

#: Where Debian and RabbitMQ's own packages keep the real scripts (``/usr/sbin`` has wrappers
#: that switch to the ``rabbitmq`` user and drop the environment).
SCRIPT_DIRS = ("/usr/lib/rabbitmq/bin",)

START_TIMEOUT = 90.0

#: A node's extra ``rabbitmq.conf`` lines, made from the node (its ports, its directory).
Config = Callable[["RabbitNode"], str] | None


def _scripts() -> Path:
    for candidate in SCRIPT_DIRS:
        if (Path(candidate) / "rabbitmq-server").exists():
            return Path(candidate)
    return Path(need("rabbitmq-server")).parent


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class RabbitNode:
    """One RabbitMQ node, ``name@localhost``, with its files under ``root``.

    ``config(node)`` is added to the node's ``rabbitmq.conf`` (new-style ``key = value``
    lines); ``tls_port`` is a free port kept for a TLS listener it may configure.
    """

    def __init__(self, root: Path, name: str, home: Path, config: Config = None) -> None:
        self.name = f"{name}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.tls_port = free_port()
        self.root = root / name
        self.home = home
        self._config = config
        self._scripts = _scripts()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        r = self.root
        return {
            **os.environ,
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(r / "mnesia"),
            "RABBITMQ_LOG_BASE": str(r / "log"),
            "RABBITMQ_CONFIG_FILE": str(r / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(r / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(r / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(r / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # Erlang distribution (between nodes, and with rabbitmqctl) on loopback only.
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    @property
    def host(self) -> str:
        """This node as one host of a transport URL."""
        return f"guest:guest@127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The Erlang VM's process id (the server script runs it as a child)."""
        pid_file = self.root / "mnesia" / f"{self.name}.pid"
        try:
            return int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        """Start the node; returns at once (see ``wait_started``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text(
            f"loopback_users.guest = true\n{self._config(self) if self._config else ''}\n"
        )
        self._proc = subprocess.Popen(
            [str(self._scripts / "rabbitmq-server")],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "stderr.log").open("wb"),
            start_new_session=True,  # the script and its VM: one group to end at the end
        )

    def wait_started(self, timeout: float = START_TIMEOUT, port: int | None = None) -> None:
        """Until the node listens on ``port`` (its AMQP port); fails the test, showing
        the node's errors, if it exits or does not listen in time."""
        deadline = time.monotonic() + timeout
        while not _listening(port or self.port):
            if self._proc is None or self._proc.poll() is not None:
                pytest.fail(f"RabbitMQ node {self.name} exited:\n{self.errors()}")
            if time.monotonic() > deadline:
                pytest.fail(f"RabbitMQ node {self.name} did not start:\n{self.errors()}")
            time.sleep(0.1)

    def errors(self) -> str:
        text = ""
        for log in (self.root / "stderr.log", self.root / "log" / f"{self.name}.log"):
            with contextlib.suppress(OSError):
                text += log.read_text(errors="replace")[-3000:]
        return text

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmqctl -n NODE args...``; its output, or the test fails showing it."""
        result = subprocess.run(
            [str(self._scripts / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
        )
        out = (result.stdout + result.stderr).decode(errors="replace")
        if result.returncode:
            pytest.fail(f"rabbitmqctl -n {self.name} {' '.join(args)} failed:\n{out}")
        return out

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown (SIGTERM to the VM), waited for."""
        pid = self.pid
        if pid is not None and self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self._wait(timeout)

    def kill(self) -> None:
        """The node dies at once (SIGKILL to the VM), as in a crash or power loss."""
        pid = self.pid
        if pid is not None and self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait(30)

    def _wait(self, timeout: float) -> None:
        if self._proc is None:
            return
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
        with contextlib.suppress(FileNotFoundError):
            (self.root / "mnesia" / f"{self.name}.pid").unlink()

    def close(self) -> None:
        """End whatever is left of the node (its process group), at once."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(30)
        pid = self.pid
        if pid is not None:  # a VM the script lost track of
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cookie_home(root: Path) -> Path:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
    return home


@contextlib.contextmanager
def rabbit_nodes(
    root: Path, prefix: str, count: int = 1, config: Config = None
) -> Iterator[list[RabbitNode]]:
    """``count`` nodes named ``PREFIX-<run>-<n>@localhost``, started in parallel, listening
    when the block starts and ended (killed) when it ends."""
    need("rabbitmq-server")
    run = uuid.uuid4().hex[:6]
    home = _cookie_home(root)
    nodes = [RabbitNode(root, f"{prefix}-{run}-{n}", home, config) for n in range(count)]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_started()
        yield nodes
    finally:
        for node in nodes:
            node.close()
        shutil.rmtree(root / "home", ignore_errors=True)


def join_cluster(nodes: list[RabbitNode]) -> None:
    """Join every node after the first to the first's cluster (``rabbitmqctl
    join_cluster``), and wait until all are running members."""
    first = nodes[0]

    def join(node: RabbitNode) -> None:
        node.ctl("stop_app")
        node.ctl("join_cluster", first.name)
        node.ctl("start_app")
        node.wait_started()

    # One at a time: joins to the same node at once can race in Mnesia's schema merge.
    for node in nodes[1:]:
        join(node)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        status = first.ctl("cluster_status", "--formatter", "json")
        if all(status.count(n.name) >= 2 for n in nodes):  # a disk node and a running one
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster did not form: {status}")
        time.sleep(0.5)


def cluster_url(nodes: list[RabbitNode], vhost: str = "") -> str:
    """A transport URL listing every node."""
    return f"rabbit://{','.join(n.host for n in nodes)}/{vhost}"
