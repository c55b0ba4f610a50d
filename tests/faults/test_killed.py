"""A server process SIGKILLed mid-work, on RabbitMQ and Redis.

The victim (a :mod:`tests.faults.worker` process) serves a topic and listens to a
notification topic; its handlers are slow, so when it is killed it holds casts and
notifications whose handlers started but did not finish, and two calls it is working on. Another
consumer of the same queues, started after the kill, must handle every cast and notification
the victim did not finish (both drivers promise at least once for them; duplicates, for
messages the victim handled but could not acknowledge, are counted and printed). The callers
of the killed calls get ``MessagingTimeout``: the monitored one soon after the keep-alives
stop, the other at its timeout, never a hang.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import rpcmsg
from tests.drivers import DriverEnv, make_env
from tests.faults import figures
from tests.faults.children import WorkerProcess
from tests.faults.workload import SLACK, Sink, wait_until

pytestmark = pytest.mark.faults

COUNT = 60  # casts, and notifications, sent before the kill
HANDLE = 2.0  # seconds the victim spends on each cast and notification
MONITOR = 1.0  # the monitored call's call_monitor_timeout
PLAIN_TIMEOUT = 4.0
REDELIVERY = 30.0  # how long the test waits for the survivor to have handled everything
#: What the drivers promise: RabbitMQ redelivers at once, Redis at the survivor's next beat
#: (at most 5 s, whatever a dead consumer held); plus the survivor's start and handling.
REDELIVERY_PROMISE = 7.0


@pytest.fixture(params=["rabbit", "redis"])
def driver_env(request: pytest.FixtureRequest) -> Iterator[DriverEnv]:
    env = make_env(request.param)
    yield env
    env.close()


def _timed_call(client: rpcmsg.RPCClient, out: dict[str, Any], **kwargs: Any) -> Any:
    def run() -> None:
        started = time.monotonic()
        try:
            out["result"] = client.prepare(**kwargs).call({}, "sleep", seconds=30)
        except Exception as exc:
            out["result"] = exc
        out["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_killed_server_work_goes_to_another_consumer(driver_env: DriverEnv) -> None:
    env = driver_env
    topic, notify_topic = env.unique(), env.unique("notify")
    victim = WorkerProcess(env.url, env.exchange, topic, notify_topic, "victim", HANDLE)
    try:
        client = env.client(topic, timeout=10)
        notifier = rpcmsg.Notifier(
            env.notification_transport(),
            publisher_id="faults",
            driver="messagingv2",
            topics=[notify_topic],
            raise_on_failure=True,
        )
        monitored: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        callers = [
            _timed_call(client, monitored, timeout=60, call_monitor_timeout=MONITOR),
            _timed_call(client, plain, timeout=PLAIN_TIMEOUT),
        ]
        casts = [uuid.uuid4().hex for _ in range(COUNT)]
        notes = [uuid.uuid4().hex for _ in range(COUNT)]
        for cast_id, note_id in zip(casts, notes, strict=True):
            client.cast({}, "record", uid=cast_id)
            notifier.info({}, "fault.kill", {"uid": note_id})
        assert victim.wait_lines("SLEEPING", 2, 10), "the victim did not take both calls"
        assert victim.wait_lines("TC", 3, 10) and victim.wait_lines("TN", 3, 10)
        victim.kill()
        killed_at = time.monotonic()
        by_victim = victim.handled()

        sink = Sink()
        env.server(topic, [sink], server="survivor")
        env.track(
            rpcmsg.get_notification_listener(
                env.notification_transport(), [rpcmsg.Target(topic=notify_topic)], [sink]
            )
        ).start()

        def missing() -> tuple[list[str], list[str]]:
            with sink.lock:
                return (
                    [u for u in casts if u not in sink.casts and u not in victim.casts],
                    [u for u in notes if u not in sink.notes and u not in victim.notes],
                )

        wait_until(lambda: missing() == ([], []), REDELIVERY)
        took = round(time.monotonic() - killed_at, 2)
        for caller in callers:
            caller.join(PLAIN_TIMEOUT + SLACK + 10)
        lost_casts, lost_notes = missing()
        with sink.lock:
            dup_casts = sum(victim.casts[u] + sink.casts[u] - 1 for u in casts) + len(lost_casts)
            dup_notes = sum(victim.notes[u] + sink.notes[u] - 1 for u in notes) + len(lost_notes)
            by_survivor = (sum(sink.casts.values()), sum(sink.notes.values()))
    finally:
        victim.stop()
    figures.record(
        "killed",
        env.name,
        "server-sigkill",
        {
            "casts_sent": COUNT,
            "casts_lost": len(lost_casts),
            "casts_duplicated": dup_casts,
            "notes_sent": COUNT,
            "notes_lost": len(lost_notes),
            "notes_duplicated": dup_notes,
            "handled_by_victim": by_victim,
            "handled_by_survivor": by_survivor,
            "redelivered_within_s": took,
            "monitored_call_s": round(monitored.get("elapsed", -1), 2),
            "plain_call_s": round(plain.get("elapsed", -1), 2),
        },
    )
    assert by_survivor[0] > 0 and by_survivor[1] > 0, "the kill left the survivor nothing"
    assert not lost_casts, f"{len(lost_casts)} casts the victim held were never handled"
    assert not lost_notes, f"{len(lost_notes)} notifications the victim held were never handled"
    assert took <= REDELIVERY_PROMISE, f"redelivered only after {took}s"
    assert "elapsed" in monitored and "elapsed" in plain, "a killed call hung"
    assert isinstance(monitored["result"], rpcmsg.MessagingTimeout), monitored
    assert monitored["elapsed"] < 10, "the monitored call outlived its monitor by far"
    assert isinstance(plain["result"], rpcmsg.MessagingTimeout), plain
    assert plain["elapsed"] <= PLAIN_TIMEOUT + SLACK
