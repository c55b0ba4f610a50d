"""Transport URLs: rpcmsg parses and prints them as oslo.messaging does, checked against
oslo.messaging itself (in its virtualenv, ``RPCMSG_OSLO_PYTHON``)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from oslo_config import cfg

import rpcmsg
from tests.compat.oslo_env import oslo_python

URLS = [
    "fake:",
    "fake:/",
    "fake://",
    "rabbit:///",
    "rabbit://h",
    "rabbit://h:5672",
    "rabbit://u:p@",
    "rabbit://u@h/",
    "rabbit://:secret@h:6379/2",
    "rabbit://us%40r:p%3Ass@h1:5672,user2:pw2@[::1]:5673/my%2Fvhost?heartbeat_rate=3&ssl=1",
    "rabbit://u:p@h1,h2:1/?a=1&a=2&b=",
    "rabbit://h1,[fe80::1%25eth0]:5/",
    "rabbit://2001:db8::1/",
    "fake:/vhost1/localhost:5672/?x=1&y=2&z=3",
    "kombu+memory://h/v",
    "localhost:5672",
    "Rabbit://H/V",
    "invalid",
    "//h:1/",
]

OSLO_SIDE = r"""
import json, sys
from oslo_config import cfg
import oslo_messaging

def parsed(url):
    try:
        t = oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"str": str(t), "transport": t.transport, "virtual_host": t.virtual_host,
            "query": t.query,
            "hosts": [[h.hostname, h.port, h.username, h.password] for h in t.hosts]}

print(json.dumps([parsed(u) for u in json.load(sys.stdin)]))
"""


def _parsed(url: str) -> dict[str, Any]:
    try:
        t = rpcmsg.TransportURL.parse(cfg.ConfigOpts(), url)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {
        "str": str(t),
        "transport": t.transport,
        "virtual_host": t.virtual_host,
        "query": t.query,
        "hosts": [[h.hostname, h.port, h.username, h.password] for h in t.hosts],
    }


def test_urls_parse_and_print_as_oslos() -> None:
    proc = subprocess.run(
        [oslo_python(), "-c", OSLO_SIDE],
        input=json.dumps(URLS),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for url, theirs in zip(URLS, json.loads(proc.stdout), strict=True):
        mine = _parsed(url)
        if "error" in theirs:  # oslo's wording first, rpcmsg's hints after it
            assert mine["error"] == theirs["error"], url
            assert mine["message"].startswith(theirs["message"]), url
        else:
            assert mine == theirs, url
