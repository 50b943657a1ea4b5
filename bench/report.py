"""The figures as tables (for people), the targets, and the README's latest-table block."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hedged.legs import ASTER, BACKPACK

START_MARK = "<!-- bench:latest:start -->"
END_MARK = "<!-- bench:latest:end -->"

# (scenario key, what, target text, check(value) -> met)
Target = tuple[str, str, str, Callable[[float], bool]]


def _get(results: dict[str, Any], *keys: str | int) -> Any:
    node: Any = results
    for k in keys:
        if isinstance(node, dict) and k in node:
            node = node[k]
        else:
            return None
    return node


def _f(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def _minus(value: Any, floor: Any) -> float | None:
    return None if value is None or floor is None else float(value) - float(floor)


def _ratio(value: Any, floor: Any) -> float | None:
    if value is None or not floor:
        return None
    return float(value) / float(floor)


def _both(*verdicts: str) -> str:
    if "not measured" in verdicts:
        return "not measured"
    return "met" if all(v == "met" for v in verdicts) else "MISSED"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) rows."""
    out: list[tuple[str, str, str, str]] = []

    def verdict(value: Any, check: Callable[[float], bool]) -> str:
        if value is None:
            return "not measured"
        return "met" if check(float(value)) else "MISSED"

    scen = results.get("scenarios", {})
    cpu = _get(results, "machine", "cpu")
    out.append(("machine: CPU model (floors and ratios measured on it)", f"{cpu}", "", ""))
    for name in ("reaction_v3", "reaction_v1"):
        r = scen.get(name)
        if not r:
            continue
        auth = "V3 EIP-712 (default)" if name.endswith("v3") else "V1 HMAC"
        n = r.get("crossings")
        rm = r.get("reaction_ms", {})
        rf = r.get("reaction_floor_ms") or {}
        own = {q: _minus(rm.get(q), rf.get(q)) for q in ("p50", "p99")}
        out.append(
            (
                f"1. reaction, event -> stop at venue [Aster {auth}, {n} crossings]",
                f"p50 {_f(rm.get('p50'), 2)} / p99 {_f(rm.get('p99'), 2)} / "
                f"max {_f(rm.get('max'), 2)} ms; the daemon's own share (minus the floor) "
                f"p50 {_f(own['p50'], 2)} / p99 {_f(own['p99'], 2)} ms",
                "own share p50 <= 0.5 ms and p99 <= 2 ms",
                _both(
                    verdict(own["p50"], lambda v: v <= 0.5), verdict(own["p99"], lambda v: v <= 2.0)
                ),
            )
        )
        if rf:
            out.append(
                (
                    "   ... floor: a bare durable commit + a bare signed order POST",
                    f"p50 {_f(rf.get('p50'), 2)} / p99 {_f(rf.get('p99'), 2)} ms "
                    f"(n={rf.get('n')}); "
                    f"the commit alone p50 {_f(_get(rf, 'commit', 'p50'), 2)} / p99 "
                    f"{_f(_get(rf, 'commit', 'p99'), 2)} ms",
                    "",
                    "",
                )
            )
        for v in (ASTER, BACKPACK):
            b = _get(r, "reaction_ms_by_loser", v) or {}
            out.append(
                (
                    f"   ... stops sent to {v}",
                    f"p50 {_f(b.get('p50'), 2)} / p99 {_f(b.get('p99'), 2)} ms (n={b.get('n')})",
                    "",
                    "",
                )
            )
        ov = r.get("overshoot", {})
        ev, po = ov.get("event_driven_bp", {}), ov.get("poller_bp", {})
        out.append(
            (
                "1. stop overshoot, event-driven vs 5-s poller [bp]",
                f"mean {_f(ev.get('mean'), 2)} vs {_f(po.get('mean'), 2)}; "
                f"p99 {_f(ev.get('p99'), 2)} vs {_f(po.get('p99'), 2)}; "
                f"ratio mean {_f(ov.get('ratio_mean'), 1)}x, p99 {_f(ov.get('ratio_p99'), 1)}x",
                ">= 20x smaller",
                verdict(ov.get("ratio_mean"), lambda v: v >= 20.0),
            )
        )
        miss = _get(r, "stops_not_sent", "count")
        touches = r.get("reverted_touches_before_the_stop")
        if miss or touches:
            out.append(
                (
                    "   ... touches of the stop that reverted before the round decided",
                    f"{touches or 0} followed by a later stop, {miss or 0} with no stop sent",
                    "",
                    "",
                )
            )
        sk, sent = r.get("leg_skew_ms", {}), r.get("leg_skew_sent_ms", {})
        floor_sent = _get(r, "leg_skew_floor_ms", "sent", "p99")
        skew_ratio = _ratio(sent.get("p99"), floor_sent)
        out.append(
            (
                f"2. leg skew, entries as they leave this process [Aster {auth}, "
                f"{sent.get('n')} openings]",
                f"p50 {_f(sent.get('p50'), 2)} / p99 {_f(sent.get('p99'), 2)} ms; "
                f"p99 {_f(skew_ratio, 2)}x the floor's",
                "p99 <= 1.5x the bare pair's",
                verdict(skew_ratio, lambda v: v <= 1.5),
            )
        )
        arrival_ratio = _ratio(sk.get("p99"), _get(r, "leg_skew_floor_ms", "p99"))
        out.append(
            (
                "   ... the same openings at the simulators (arrival stamps)",
                f"p50 {_f(sk.get('p50'), 2)} / p99 {_f(sk.get('p99'), 2)} ms; "
                f"p99 {_f(arrival_ratio, 2)}x the floor's",
                "",
                "",
            )
        )
        fl = r.get("leg_skew_floor_ms")
        if fl:
            out.append(
                (
                    "   ... floor: a bare aiohttp client, two ready order POSTs at once",
                    f"left p50 {_f(_get(fl, 'sent', 'p50'), 2)} / p99 "
                    f"{_f(_get(fl, 'sent', 'p99'), 2)} ms; arrived p50 {_f(fl.get('p50'), 2)} "
                    f"/ p99 {_f(fl.get('p99'), 2)} ms (n={fl.get('n')})",
                    "",
                    "",
                )
            )
    st = scen.get("step")
    if st:
        out.append(
            (
                "1b. the decision alone, in process: a pass to its stop's intent [us, p50 / p90]",
                f"back to back {_f(_get(st, 'hot_us', 'p50'), 0)} / "
                f"{_f(_get(st, 'hot_us', 'p90'), 0)}; after 20 ms asleep "
                f"{_f(_get(st, 'after_sleep_us', 'p50'), 0)} / "
                f"{_f(_get(st, 'after_sleep_us', 'p90'), 0)}; after 20 ms busy "
                f"{_f(_get(st, 'after_busy_us', 'p50'), 0)} / "
                f"{_f(_get(st, 'after_busy_us', 'p90'), 0)}",
                "",
                "",
            )
        )
    for s in scen.get("scale", []):
        if "error" in s:  # a scenario that failed keeps its place in the table
            out.append(("3. scale", f"failed: {s['error']}", "", "not measured"))
            continue
        n = s.get("rounds")
        floor = _get(s, "floor", "cpu_ms_per_event")
        ratio = _ratio(s.get("cpu_ms_per_event"), floor)
        target = "<= 3x the floor per event" if n == 1000 else ""
        out.append(
            (
                f"3. scale: {n:,} open rounds, {s.get('rate'):.0f} events/s",
                f"CPU {_f(100 * (s.get('cpu_share_of_core') or 0), 0)} % of a core "
                f"({_f(s.get('cpu_ms_per_event'), 3)} ms/event = {_f(ratio, 2)}x the floor's "
                f"{_f(floor, 3)}); decision p99 "
                f"{_f(s.get('decision_latency_p99_ms'), 1)} ms; longest pass "
                f"{_f(s.get('pass_longest_ms'), 0)} ms",
                target,
                verdict(ratio, lambda v: v <= 3.0) if target else "",
            )
        )
    for s in scen.get("recovery", []):
        n = s.get("rounds")
        calls = s.get("venue_calls", {})
        total = {v: _get(calls, v, "total") for v in (ASTER, BACKPACK)}
        recon = {v: _get(calls, v, "until_reconciled") for v in (ASTER, BACKPACK)}
        target = "<= 5 s" if n == 1000 else ""
        out.append(
            (
                f"4. recovery: {n:,} open rounds",
                f"reconciled {_f(s.get('to_reconciled_s'), 2)} s, all stepped "
                f"{_f(s.get('to_all_stepped_s'), 2)} s; venue calls aster {total[ASTER]} "
                f"(to reconciled {recon[ASTER]}), backpack {total[BACKPACK]} "
                f"(to reconciled {recon[BACKPACK]})",
                target,
                verdict(s.get("to_all_stepped_s"), lambda v: v <= 5.0) if target else "",
            )
        )
    b = scen.get("budget")
    if b:
        for v in (ASTER, BACKPACK):
            row = _get(b, "venues", v) or {}
            used = row.get("weight_per_min") if v == ASTER else row.get("requests_per_min")
            unit = "weight/min" if v == ASTER else "requests/min"
            out.append(
                (
                    f"5. REST budget, {b.get('rounds')} open rounds: {v}",
                    f"{_f(used, 0)} {unit} = {_f(row.get('budget_used_pct'), 1)} % of "
                    f"{row.get('budget')}",
                    "<= 5 %",
                    verdict(row.get("budget_used_pct"), lambda p: p <= 5.0),
                )
            )
    m = scen.get("memory")
    if m:
        marks = m.get("checkpoints") or []
        first, final = (marks[0], marks[-1]) if len(marks) >= 2 else ({}, {})
        grown = ", ".join(f"{k} +{n}" for k, n in (m.get("objects_grown_by_type") or {}).items())
        out.append(
            (
                f"7. memory: RSS after {final.get('rounds')} rounds vs after {first.get('rounds')}",
                f"{_f(final.get('rss_mb'), 1)} vs {_f(first.get('rss_mb'), 1)} MB "
                f"({_f(m.get('rss_growth_pct'), 2, ' %')}; "
                f"{_f(m.get('rss_bytes_per_round'), 0)} B/round); Python blocks "
                f"{_f(m.get('blocks_per_round'), 1)}/round; SQLite's heap "
                f"{_f(first.get('sqlite_mb'), 2)} -> {_f(final.get('sqlite_mb'), 2)} MB; "
                f"objects grown: {grown or 'none'}",
                "within 2 %",
                verdict(m.get("rss_growth_pct"), lambda p: abs(p) <= 2.0),
            )
        )
    for key in sorted(k for k in scen if k.startswith("exits")):
        out += _exit_rows(scen[key])
    h = scen.get("history")
    if h and "rounds" in h:
        out.append(
            (
                f"9. hedgectl history of {h['rounds']} finished rounds over {h.get('days')} days",
                f"figures {_f(h.get('history_figures_s'), 2, ' s')}; the command: CSV "
                f"{_f(h.get('hedgectl_history_csv_s'), 2, ' s')}, table "
                f"{_f(h.get('hedgectl_history_table_s'), 2, ' s')}, by day "
                f"{_f(h.get('hedgectl_history_by_day_s'), 2, ' s')}",
                "",
                "",
            )
        )
    return out


def _exit_rows(e: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """Scenario 8: per configuration, how the rounds ended and what their fees came to."""
    if not e or "configs" not in e:
        return []
    out = []
    for name, c in e["configs"].items():
        ended = ", ".join(f"{k} {n}" for k, n in (c.get("ended") or {}).items())
        maker = c.get("maker_share_of_rounds")
        survivors = c.get("maker_share_of_survivors")
        out.append(
            (
                f"8. exits, volatility {e.get('sigma')}, {name}: {c.get('rounds')} rounds",
                f"maker exits {_f(None if maker is None else 100 * maker, 0, ' %')} of rounds, "
                f"{_f(None if survivors is None else 100 * survivors, 0, ' %')} of rounds with "
                f"a survivor; fees {c.get('fees_per_10k')} per 10,000 USDT of volume; median "
                f"round {_f(c.get('round_seconds_median'), 1, ' s')}; ended: {ended}",
                "",
                "",
            )
        )
    return out


def table(results: dict[str, Any]) -> str:
    body = rows(results)
    head = ("figure", "measured", "target", "verdict")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in body]
    return "\n".join(lines)


def machine_line(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    code = m.get("code", {})
    load = m.get("load_average_start") or []
    load_end = results.get("load_average_end") or []
    return (
        f"{m.get('when')} - {m.get('cores')} cores ({m.get('cpu')}), "
        f"Python {m.get('python')}, SQLite {_get(m, 'packages', 'sqlite')} on "
        f"{m.get('db_filesystem')}, load average {', '.join(f'{x:.2f}' for x in load)} at "
        f"start and {', '.join(f'{x:.2f}' for x in load_end)} at the end; code "
        f"{code.get('sha256')} (newest file {code.get('newest_change')})"
        + (
            f"; changed during the run: {', '.join(results['code_changed'])}"
            if results.get("code_changed")
            else ""
        )
        + ("; --quick" if results.get("quick") else "")
    )


def probe_line(results: dict[str, Any]) -> str:
    parts = []
    for name in ("reaction_v3", "reaction_v1"):
        p = _get(results, "scenarios", name, "disk_commit_probe_ms")
        if p and p.get("n"):
            parts.append(
                f"{name} p50 {p['p50']:.1f} / p99 {p['p99']:.1f} / max {p['max']:.0f} ms "
                f"({p['over_50ms']} of {p['n']} over 50 ms)"
            )
    return ("Disk: a durable SQLite commit took " + "; ".join(parts)) if parts else ""


def busy_line(results: dict[str, Any]) -> str:
    busy = results.get("machine_busy", {})
    parts = [
        f"{k} {100 * v['all_cores_busy_share']:.0f} %"
        for k, v in busy.items()
        if v.get("all_cores_busy_share") is not None
    ]
    if not parts:
        return ""
    return "All cores busy (this benchmark and anything else): " + ", ".join(parts)


def merged_lines(results: dict[str, Any]) -> str:
    lines = []
    for m in results.get("merged", []):
        mach = m.get("machine", {})
        code = mach.get("code", {})
        load = mach.get("load_average_start") or []
        changed = m.get("code_changed") or []
        lines.append(
            f"Re-run and merged: {', '.join(m.get('scenarios', []))} at {mach.get('when')} "
            f"on {mach.get('cores')} cores ({mach.get('cpu')}), "
            f"load average {', '.join(f'{x:.2f}' for x in load)} at start, code "
            f"{code.get('sha256')}"
            + (f"; changed during it: {', '.join(changed)}" if changed else "")
        )
    return "\n".join(lines)


def text(results: dict[str, Any]) -> str:
    lines = (merged_lines(results), busy_line(results), probe_line(results))
    extra = "".join(f"\n{line}\n" for line in lines if line)
    return f"{machine_line(results)}\n\n{table(results)}\n{extra}"


def update_readme(readme: Path, results: dict[str, Any]) -> None:
    """Replace the block between the markers with the latest table."""
    block = f"{START_MARK}\n{text(results)}{END_MARK}"
    current = readme.read_text() if readme.exists() else ""
    if START_MARK in current and END_MARK in current:
        before = current.split(START_MARK, 1)[0]
        after = current.split(END_MARK, 1)[1]
        readme.write_text(before + block + after)
    else:
        readme.write_text(current + ("\n" if current else "") + block + "\n")
