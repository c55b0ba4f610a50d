"""The peers' virtualenvs: aio-pika and FastStream, each in one of its own under benchmarks/.

    python benchmarks/peers.py setup     # create (or complete) them with pip
    python benchmarks/peers.py status    # which exist

The peer scripts (``peer_aiopika.py``, ``peer_faststream.py``) run on these virtualenvs'
pythons, so that neither library (nor their pins of aiormq, redis-py, anyio ...) is installed
beside rpcmsg. ``benchmarks/run.py`` lists a peer whose virtualenv is missing as not measured.
The virtualenvs are not committed (``benchmarks/.gitignore``). Versions are pinned so that
the table's figures can be reproduced.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: peer -> (virtualenv directory under benchmarks/, pip requirements)
PEERS = {
    "aio-pika": (".venv-aiopika", ["aio-pika==10.2.1"]),
    "faststream": (".venv-faststream", ["faststream[rabbit,redis]==0.7.8"]),
}


def python(peer: str) -> Path | None:
    """The python of ``peer``'s virtualenv, or None when it is not set up."""
    path = HERE / PEERS[peer][0] / "bin" / "python"
    return path if path.exists() else None


def setup() -> int:
    for directory, requirements in PEERS.values():
        target = HERE / directory
        if not (target / "bin" / "python").exists():
            print(f"creating {target}", file=sys.stderr)
            venv.create(target, with_pip=True)
        print(f"installing {' '.join(requirements)} into {target}", file=sys.stderr)
        subprocess.run(
            [str(target / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
            check=True,
        )
    return 0


def main(argv: list[str]) -> int:
    if argv == ["setup"]:
        return setup()
    if argv == ["status"]:
        for peer in PEERS:
            print(f"{peer}: {python(peer) or 'not set up (python benchmarks/peers.py setup)'}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
