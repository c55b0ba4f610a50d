"""Streams of traffic through a broker failover, and the promises checked after it.

Shared by the RabbitMQ cluster and the Redis Sentinel tests: ``through_fault`` runs a
``Traffic`` stream, applies the fault once traffic flows, waits for traffic to flow again
(``recovery_s``), lets casts and notifications drain and returns the tally; ``check`` asserts
what every failover test promises (recovery, deadlines, no crossed reply, no stuck sender)
and, where the driver promises it, that nothing accepted was lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import rpcmsg
from tests.faults.workload import SLACK, Sink, Tally, Traffic, wait_until

__all__ = ["Outcome", "check", "through_fault"]


@dataclass
class Outcome:
    tally: Tally
    traffic: Traffic
    sink: Sink
    recovered: bool
    recovery_s: float | None
    stuck: list[str]
    fault_at: float  # time.monotonic() when the fault began
    fault_s: float  # how long ``fault()`` took
    lost_at: list[float] = field(default_factory=list)  # when the lost messages were accepted

    def figures(self) -> dict[str, object]:
        return {
            **self.tally.__dict__,
            "fault_s": self.fault_s,
            "recovery_s": self.recovery_s,
            "stuck": self.stuck,
        }

    @property
    def recovered_at(self) -> float:
        """When traffic flowed again (or the end of the wait for it)."""
        return self.fault_at + self.fault_s + (self.recovery_s or 0.0)


def through_fault(
    client: rpcmsg.RPCClient,
    notifier: rpcmsg.Notifier,
    sink: Sink,
    timeout: float,
    fault: Callable[[], None],
    recovery: float,
    drain: float,
) -> Outcome:
    """Traffic from ``client`` and ``notifier`` to ``sink`` through ``fault()``; recovery is
    timed from the end of ``fault()``: traffic started after it must flow within ``recovery``
    seconds."""
    assert client.call({}, "echo", value="ready") == "ready"
    traffic = Traffic(client, notifier, timeout).start()
    try:
        assert wait_until(lambda: traffic.flowing_since(sink, 0.0), 10), "no traffic"
        time.sleep(1.0)
        fault_at = time.monotonic()
        fault()
        fault_end = time.monotonic()
        recovered = wait_until(lambda: traffic.flowing_since(sink, fault_end), recovery)
        recovery_s = round(time.monotonic() - fault_end, 2)
        time.sleep(1.0)  # a little more traffic after the recovery
    finally:
        stuck = traffic.stop(timeout + SLACK + 5)
    wait_until(lambda: Tally.of(traffic, sink).all_handled(), drain)
    tally = Tally.of(traffic, sink)
    with sink.lock:
        lost_at = [t for uid, t in traffic.casts.items() if uid not in sink.casts]
        lost_at += [t for uid, t in traffic.notes.items() if uid not in sink.notes]
    return Outcome(
        tally,
        traffic,
        sink,
        recovered,
        recovery_s if recovered else None,
        stuck,
        fault_at,
        round(fault_end - fault_at, 2),
        sorted(lost_at),
    )


def check(outcome: Outcome, recovery: float, lossless: bool = True) -> None:
    """The failover promises; with ``lossless`` also 0 casts and notifications lost."""
    tally = outcome.tally
    assert outcome.recovered, f"traffic did not flow again within {recovery}s of the fault"
    assert not outcome.stuck, f"senders still blocked after the stop: {outcome.stuck}"
    assert tally.outcomes.get("crossed", 0) == 0, "a call got another call's reply"
    others = {k: n for k, n in tally.outcomes.items() if k not in ("ok", "timeout", "crossed")}
    assert not others, f"calls ended with errors other than MessagingTimeout: {others}"
    assert tally.overruns == 0, f"{tally.overruns} calls overran their deadline"
    if lossless:
        assert tally.casts_lost == 0, f"{tally.casts_lost} of {tally.casts_sent} casts lost"
        assert tally.notes_lost == 0, f"{tally.notes_lost} of {tally.notes_sent} notes lost"
