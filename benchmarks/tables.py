"""The ratios, the targets and the Markdown page of a ``run.py`` run (``latest.md``).

Ratios compare rows measured in the same run: each sync rpcmsg row with the raw loops,
oslo.messaging and (for fake) the ceiling of its driver; each async rpcmsg row with the peers
of its driver and with the sync rpcmsg row of its driver. Throughput ratios are rpcmsg /
other, latency ratios other / rpcmsg: above 1, rpcmsg wins.
"""

from __future__ import annotations

from typing import Any

from rpcmsg.cli import report

#: Issue 13's targets.
ASYNC_VS_PEERS = 3.0  # async calls/s at 1,000 in flight, over a peer's
ASYNC_LATENCY = 1.2  # async sequential p50 latency, at most this times the sync client's
#: Which kinds of row each kind of rpcmsg row is compared with.
VERSUS = {
    "rpcmsg": ("raw", "oslo", "ceiling"),
    "rpcmsg-async": ("peer", "rpcmsg"),
    "rpcmsg-async-sync-server": ("peer", "rpcmsg"),
}
#: The async rows: the async client with rpcmsg's async server, and with the sync one.
ASYNC_KINDS = {"rpcmsg-async": "", "rpcmsg-async-sync-server": ", sync server"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and bool(value) and value == value


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rpcmsg against each row it is compared with (see the module docstring)."""
    out = []
    for mine in (r for r in rows if r["kind"] in VERSUS):
        for other in rows:
            if other["kind"] not in VERSUS[mine["kind"]]:
                continue
            if not (
                other["driver"] == mine["driver"]
                or (other["kind"] == "ceiling" and mine["driver"] == "fake")
            ):
                continue
            for figure in report.HEADINGS:
                a, b = mine.get(figure), other.get(figure)
                if not _number(a) or not _number(b):
                    continue
                value = a / b if figure.endswith("per_s") else b / a
                out.append(
                    {"name": mine["name"], "versus": other["name"], "figure": figure,
                     "ratio": value}
                )  # fmt: skip
    return out


def _row(rows: list[dict[str, Any]], kind: str, driver: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["kind"] == kind and r["driver"] == driver), None)


def targets(data: dict[str, Any]) -> list[str]:
    """Each target of the benchmarks, as measured in this run: met, NOT met or not measured."""
    from ceiling import TARGET_CALLS_PER_S

    rows, skipped = data["rows"], data["skipped"]
    out = []
    fake = _row(rows, "rpcmsg", "fake")
    if fake and _number(fake.get("seq_calls_per_s")):
        verdict = "met" if fake["seq_calls_per_s"] >= TARGET_CALLS_PER_S else "NOT met"
        out.append(
            f"- the fake driver does at least {TARGET_CALLS_PER_S:,.0f} sequential calls/s "
            f"in one process with the threading executor: {verdict} "
            f"({fake['seq_calls_per_s']:,.0f}/s)"
        )
    drivers = sorted({r["driver"] for r in rows if r["kind"] in ("peer", "rpcmsg")} - {"fake"})
    for driver in drivers:
        sync = _row(rows, "rpcmsg", driver)
        for kind, suffix in ASYNC_KINDS.items():
            name = f"rpcmsg async {driver}{suffix}"
            mine = _row(rows, kind, driver)
            if mine is None:
                if not suffix:
                    out.append(
                        f"- {name} (async client, async server) against the peers and the "
                        f"sync client: not measured ({skipped.get(name, 'no row')})"
                    )
                continue
            out += _async_targets(rows, mine, sync)
    return out


def _async_targets(
    rows: list[dict[str, Any]], mine: dict[str, Any], sync: dict[str, Any] | None
) -> list[str]:
    out = []
    for peer in (r for r in rows if r["kind"] == "peer" and r["driver"] == mine["driver"]):
        head = (
            f"- {mine['name']} does at least {ASYNC_VS_PEERS:.0f}x the calls/s of "
            f"{peer['name']} with 1,000 calls in flight: "
        )
        a, b = mine.get("inflight_calls_per_s"), peer.get("inflight_calls_per_s")
        if _number(a) and _number(b):
            ratio = a / b
            verdict = "met" if ratio >= ASYNC_VS_PEERS else "NOT met"
            out.append(head + f"{verdict} ({a:,.0f}/s against {b:,.0f}/s: {ratio:.2f}x)")
    a, b = mine.get("paired_async_p50_ms"), mine.get("paired_sync_p50_ms")
    target = (
        f"- {mine['name']}: a sequential call of the async client takes at most "
        f"{ASYNC_LATENCY}x the latency (p50) of the sync client's against the same server"
    )
    if _number(a) and _number(b):
        ratio = a / b
        verdict = "met" if ratio <= ASYNC_LATENCY else "NOT met"
        out.append(
            target + f", in alternating blocks: {verdict} ({a:.2f} ms against {b:.2f} ms: "
            f"{ratio:.2f}x)"
        )
    elif mine["kind"] == "rpcmsg-async-sync-server":
        why = (mine.get("errors") or {}).get("paired", "no paired figures")
        out.append(target + f": not measured ({why})")
    if sync and _number(mine.get("p50_ms")) and _number(sync.get("p50_ms")):
        ratio = mine["p50_ms"] / sync["p50_ms"]
        verdict = "within" if ratio <= ASYNC_LATENCY else "NOT within"
        out.append(
            f"- {mine['name']} against the row {sync['name']} (each with a server process "
            f"of its own, measured minutes apart: the server's cost and the run's drift "
            f"count too): {verdict} {ASYNC_LATENCY}x ({mine['p50_ms']:.2f} ms against "
            f"{sync['p50_ms']:.2f} ms: {ratio:.2f}x)"
        )
    return out


def memory(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"| {r['name']} | {r['inflight_kb_per_call']:.1f} |"
        for r in rows
        if _number(r.get("inflight_kb_per_call"))
    ]
    if not lines:
        return []
    return [
        "Memory per in-flight call (async clients, 1,000 calls waiting for a stopped server; "
        "Python allocations held, by tracemalloc):",
        "",
        "|  | KB per call |",
        "|---|---:|",
        *lines,
        "",
    ]


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    where = (
        "Client and server in one process per row (--in-process)"
        if data.get("in_process")
        else "Client and servers in separate processes (rows marked in-process excepted)"
    )
    runs = data.get("repeat", 1)
    head = [
        f"Measured {data['date']} on {m['cpu']}, {m['cores']} cores, {m['os']}, {m['python']}, "
        f"load average {m.get('load_1min')} at the start and {m.get('load_1min_end', '?')} at "
        "the end (other work on the machine)"
        + (" (quick smoke run: counts too small to mean much)" if data["quick"] else "")
        + f". {where}; brokers on localhost. "
        + (f"Each figure the median of {runs} runs, in rounds." if runs > 1 else "One run."),
        "",
    ]
    tail = ["", *memory(data["rows"])]
    goals = targets(data)
    if goals:
        tail += ["Targets, as measured in this run:", "", *goals, ""]
    if data["skipped"]:
        tail += ["Not measured in this run:", ""]
        tail += [f"- {name}: {why}" for name, why in data["skipped"].items()]
    return (
        "\n".join(head)
        + "\n"
        + report.markdown(data["rows"], data["ratios"])
        + "\n".join(tail).rstrip()
        + "\n"
    )
