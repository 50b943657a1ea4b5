"""Scenario 4: a restart with N open rounds (positions open, take-profits resting).

The store and both simulators hold N rounds in LIMIT_SET, as a daemon killed in steady state
leaves them: each round's loser stopped out, its survivor's position open on the venue with
its reduce-only take-profit resting (survivors alternate between the venues). Then a fresh
engine starts (store opened, clients started, `Engine.run`): measured until it is reconciled
(READY, after `recover`) and until every round has been stepped once, with every
request that reached each venue meanwhile, by endpoint. The clients run with their real
pacing and the simulators with the venues' real rate limits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.rig import SeedRound, request_counts, restart, seeded_rig
from hedged.legs import ASTER, BACKPACK, VENUES


async def run(out: Path, *, rounds: int, timeout: float) -> dict[str, Any]:
    plan = [
        SeedRound("LIMIT_SET", survivor=ASTER if i % 2 == 0 else BACKPACK) for i in range(rounds)
    ]
    rig, seeded_in = await seeded_rig(out, plan, strategy={"max_concurrent_rounds": max(rounds, 1)})
    result: dict[str, Any] = {"rounds": rounds, "seed_s": seeded_in}
    try:
        t0 = restart(rig)
        rig.run()
        try:
            await rig.until_stepped(rounds, timeout)
            t_pass = max(rig.engine.stepped.values(), default=time.monotonic())
            result["completed"] = True
        except TimeoutError:
            t_pass = time.monotonic()
            result["completed"] = False
        ready = rig.ready_at
        result["to_reconciled_s"] = None if ready is None else ready - t0
        result["to_all_stepped_s"] = t_pass - t0
        states: dict[str, int] = {}
        for r in rig.store.active_rounds():
            states[r.state] = states.get(r.state, 0) + 1
        result["states_after"] = states
        report = rig.engine.reports[0] if rig.engine.reports else None
        if report is not None:
            result["reconcile_report"] = {
                "clean": report.clean,
                "resolved": report.resolved,
                "refreshed": report.refreshed,
                "orphans_cancelled": len(report.orphans_cancelled),
                "mismatches": {
                    f"{v}:{s}": [str(a), str(e)] for (v, s), (a, e) in report.mismatches.items()
                },
                "venue_calls_counted_by_reconcile": report.venue_calls,
            }
        calls: dict[str, Any] = {}
        for v in VENUES:
            entries, _ = await rig.sims.log(v)
            upto_ready = ready if ready is not None else t_pass
            c_ready, n_ready, w_ready = request_counts(entries, t0, upto_ready)
            c_pass, n_pass, w_pass = request_counts(entries, upto_ready, t_pass)
            calls[v] = {
                "until_reconciled": n_ready,
                "first_pass": n_pass,
                "total": n_ready + n_pass,
                "aster_weight": (w_ready + w_pass) if v == ASTER else None,
                "by_endpoint_until_reconciled": c_ready,
                "by_endpoint_first_pass": c_pass,
            }
        result["venue_calls"] = calls
    finally:
        await rig.close()
    result["notes"] = rig.notes
    return result
