"""Load and soak: 50 concurrent callers against 4 server processes, payloads 100 B to 1 MB.

For ``SOAK_SECONDS`` (env ``RPCMSG_SOAK_SECONDS``, 40 by default, bounded for CI) 50 threads
call ``echo`` with payloads of log-uniform size between 100 B and 1 MB that embed the call's
own id, and a caster sends casts, against 4 :mod:`tests.faults.worker` processes serving one
topic. Asserted: every reply is its request's payload (no crossed replies), no call fails or
times out (their timeout is generous: this is load, not a fault), every cast is handled, and
the resident memory of the servers and of the client process, sampled every second under
load after a warm-up quarter (the median of the first, middle and last third of the samples
stand for the start, the middle and the end), grew by at most ``RSS_GROWTH`` in all and by at
most half that from the middle to the end (flat at the end; printed and written as figures).
"""

from __future__ import annotations

import gc
import math
import os
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

import rpcmsg
from tests.drivers import DriverEnv, make_env
from tests.faults import figures
from tests.faults.children import WorkerProcess
from tests.faults.worker import rss_bytes
from tests.faults.workload import wait_until

pytestmark = pytest.mark.faults

SOAK_SECONDS = float(os.environ.get("RPCMSG_SOAK_SECONDS", "40"))
CALLERS = 50
SERVERS = 4
CALL_TIMEOUT = 60.0
MIN_SIZE, MAX_SIZE = 100, 1_000_000
#: Allowed RSS growth per process from the end of the warm-up to the end: generous, since a
#: megabyte payload in flight on each of 50 threads makes the heap breathe by itself.
RSS_GROWTH = 64 * 1024 * 1024
MB = 1024 * 1024
SAMPLE_EVERY = 1.0  # seconds between RSS samples


def _thirds(samples: list[dict[str, int]]) -> list[list[dict[str, int]]]:
    """The first, middle and last third of the samples (at least one each)."""
    third = max(1, len(samples) // 3)
    return [samples[:third], samples[len(samples) // 2 - third // 2 :][:third], samples[-third:]]


def _median_of(samples: list[dict[str, int]]) -> dict[str, int]:
    return {name: int(statistics.median(s[name] for s in samples)) for name in samples[0]}


@pytest.fixture(params=["rabbit", "redis"])
def driver_env(request: pytest.FixtureRequest) -> Iterator[DriverEnv]:
    env = make_env(request.param)
    yield env
    env.close()


def payload(uid: str, rng: random.Random) -> str:
    size = int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE))))
    return (uid * (size // len(uid) + 1))[:size]


def test_soak(driver_env: DriverEnv) -> None:
    env = driver_env
    topic, notify_topic = env.unique(), env.unique("notify")
    servers = [
        WorkerProcess(env.url, env.exchange, topic, notify_topic, f"s{i}", 0.0)
        for i in range(SERVERS)
    ]
    stop = threading.Event()
    lock = threading.Lock()
    outcomes: dict[str, int] = {}
    sizes: list[int] = []
    casts: list[str] = []
    cast_errors: list[str] = []
    try:
        transports = [env.transport() for _ in range(2)]
        clients = [rpcmsg.get_rpc_client(t, rpcmsg.Target(topic=topic)) for t in transports]
        clients = [c.prepare(timeout=CALL_TIMEOUT) for c in clients]
        assert clients[0].call({}, "echo", value="ready") == "ready"

        def caller(index: int) -> None:
            rng = random.Random(index)
            client = clients[index % len(clients)]
            while not stop.is_set():
                uid = uuid.uuid4().hex
                value = payload(uid, rng)
                try:
                    got = client.call({}, "echo", value=value)
                    outcome = "ok" if got == value else "crossed"
                except Exception as exc:
                    outcome = type(exc).__name__
                with lock:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    sizes.append(len(value))

        def caster() -> None:
            while not stop.is_set():
                uid = uuid.uuid4().hex
                try:
                    clients[0].cast({}, "record", uid=uid)
                    casts.append(uid)
                except Exception as exc:
                    cast_errors.append(type(exc).__name__)
                stop.wait(0.01)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
        threads.append(threading.Thread(target=caster))
        for thread in threads:
            thread.start()
        time.sleep(SOAK_SECONDS / 4)
        warm_calls = sum(outcomes.values())
        # RSS sampled under load for the other three quarters; each figure is the median
        # of a window of samples, so that the payloads in flight at one instant (up to a
        # megabyte on each of 50 threads) do not decide it.
        samples: list[dict[str, int]] = []
        until = time.monotonic() + SOAK_SECONDS * 3 / 4
        while time.monotonic() < until:
            samples.append({s.name: rss_bytes(s.pid) for s in servers} | {"client": rss_bytes()})
            time.sleep(SAMPLE_EVERY)
        stop.set()
        for thread in threads:
            thread.join(CALL_TIMEOUT + 10)
        hung = sum(1 for t in threads if t.is_alive())
        gc.collect()
        # The client once its callers stopped: what it keeps when no payload is in flight
        # (a leak would keep it; the growth under load is the in-flight high-water mark).
        client_idle = rss_bytes()

        def handled() -> set[str]:
            done: set[str] = set()
            for server in servers:
                with server.lock:
                    done.update(server.casts)
            return done

        wait_until(lambda: handled().issuperset(casts), 20)
        lost_casts = len(set(casts) - handled())
        duplicated = sum(sum(s.casts.values()) for s in servers) - len(handled())
    finally:
        stop.set()
        for server in servers:
            server.stop()
    warm, mid, end = (_median_of(part) for part in _thirds(samples))
    growth = {name: end[name] - warm[name] for name in end}
    late = {name: end[name] - mid[name] for name in end}
    figures.record(
        "soak",
        env.name,
        f"{CALLERS}x{SERVERS}",
        {
            "seconds": SOAK_SECONDS,
            "calls": sum(outcomes.values()),
            "calls_after_warmup": sum(outcomes.values()) - warm_calls,
            "outcomes": outcomes,
            "mean_payload_kb": round(sum(sizes) / max(1, len(sizes)) / 1024, 1),
            "casts_sent": len(casts),
            "casts_lost": lost_casts,
            "casts_duplicated": duplicated,
            "cast_errors": len(cast_errors),
            "hung_threads": hung,
            "rss_warm_mb": {k: round(v / MB, 1) for k, v in warm.items()},
            "rss_end_mb": {k: round(v / MB, 1) for k, v in end.items()},
            "rss_growth_mb": {k: round(v / MB, 1) for k, v in growth.items()},
            "max_rss_growth_mb": round(max(growth.values()) / MB, 1),
            "rss_mid_mb": {k: round(v / MB, 1) for k, v in mid.items()},
            "rss_late_growth_mb": {k: round(v / MB, 1) for k, v in late.items()},
            "max_rss_late_growth_mb": round(max(late.values()) / MB, 1),
            "rss_client_idle_after_mb": round(client_idle / MB, 1),
        },
    )
    assert hung == 0, f"{hung} callers still blocked"
    assert outcomes.get("crossed", 0) == 0, "replies crossed"
    assert set(outcomes) == {"ok"}, f"calls failed under load: {outcomes}"
    assert not cast_errors, f"casts refused under load: {cast_errors[:5]}"
    assert lost_casts == 0, f"{lost_casts} of {len(casts)} casts lost"
    too_much = {k: round(v / MB, 1) for k, v in growth.items() if v > RSS_GROWTH}
    assert not too_much, f"RSS grew by more than {RSS_GROWTH // MB} MB (MB): {too_much}"
    # Flat at the end: the second half of the measured run adds at most half as much.
    rising = {k: round(v / MB, 1) for k, v in late.items() if v > RSS_GROWTH // 2}
    assert not rising, f"RSS still rising in the second half (MB): {rising}"
