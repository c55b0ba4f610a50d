"""The Redis driver in an eventlet-patched process: its reader threads turn green."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.drivers import REDIS_URL
from tests.redis.conftest import RedisEnv

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "tests" / "helpers" / "eventlet_service.py"


def test_eventlet_server_and_client_over_redis(renv: RedisEnv) -> None:
    prefix = f"rpcmsg-evt-{uuid.uuid4().hex[:8]}"
    renv.extra_prefixes.append(prefix)
    proc = subprocess.run(
        [sys.executable, str(HELPER), f"{REDIS_URL}?key_prefix={prefix}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    assert verdict["results"] == ["rested"] * 5
    assert verdict["elapsed"] < 1.2, "five 0.3 s calls must overlap on green threads"
    assert verdict["monitored"] == "rested"
