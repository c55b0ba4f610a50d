"""Keep-alives of a monitored call survive failed sends, on every driver."""

from __future__ import annotations

import threading
import time
from typing import Any

from rpcmsg import _wire
from tests.drivers import DriverEnv


class Slow:
    def sleep(self, ctxt: Any, seconds: float) -> str:
        time.sleep(seconds)
        return "slept"


def test_keep_alives_go_on_after_failed_sends(env: DriverEnv) -> None:
    """The server's first two keep-alives fail to send (a broker hiccup): the call, whose
    server is still working, must not fail with the call monitor timeout."""
    topic = env.unique()
    transport = env.transport()
    driver = transport.driver
    real_send_reply = driver.send_reply
    failed: list[float] = []
    lock = threading.Lock()

    def flaky_send_reply(address: str, body: bytes, **kwargs: Any) -> None:
        if _wire.decode(body).get("ending") is False:
            with lock:
                if len(failed) < 2:
                    failed.append(time.monotonic())
                    raise ConnectionError("broker hiccup")
        real_send_reply(address, body, **kwargs)

    driver.send_reply = flaky_send_reply  # type: ignore[method-assign]
    env.server(topic, [Slow()], transport=transport)
    # Keep-alives every 1 s; the failed ones are tried again a quarter interval later, so the
    # first that gets through leaves the monitor 0.5 s to spare (a loaded broker needs it).
    client = env.client(topic, timeout=20, call_monitor_timeout=2.0)
    assert client.call({}, "sleep", seconds=4.5) == "slept"
    assert len(failed) == 2
