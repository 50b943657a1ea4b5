"""Kill -9 proof, the short seeded version CI runs (the long one: `make soak`).

Two campaigns run side by side, each on its own simulator process, with the daemon killed
at every named crash point and at random moments in every round state, late-delivered orders
among them; then the venues are compared with the store (invariants.check_invariants). A third
case opens a position behind the daemon's back and checks that the pair is halted, with the
reason shown by hedgectl.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from harness import (
    ASTER,
    CRASH_PLAN,
    LIVE,
    READY_TIMEOUT,
    CampaignResult,
    foreign_exposure,
    run_campaign,
    summary,
)

from hedged.crashpoints import POINTS

SEED = 20240611
KILLS_PER_CAMPAIGN = 26  # two campaigns: 52 kills


def test_kill9_at_every_point_and_state_keeps_every_invariant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every point's first pass in one campaign, its later passes in the other.
    plans = [
        [(p, n) for p, n in CRASH_PLAN if n == 1],
        [(p, n) for p, n in CRASH_PLAN if n > 1],
    ]
    with ThreadPoolExecutor(len(plans)) as pool:
        futures = [
            pool.submit(
                run_campaign,
                tmp_path / f"campaign{i}",
                SEED + i,
                KILLS_PER_CAMPAIGN,
                crash_plan=plan,
                wall_limit=420.0,
                # one round at a time (with backstops), then two at once (without), the
                # second with the short on Backpack
                max_concurrent_rounds=1 + i,
                direction=("aster_short", "backpack_short")[i],
            )
            for i, plan in enumerate(plans)
        ]
        results: list[CampaignResult] = [f.result() for f in futures]
    table = summary(results)
    with capsys.disabled():
        print("\n" + table)

    kills = [k for r in results for k in r.kills]
    assert len(kills) >= 50
    fired = {p for r in results for p in r.points_hit}
    assert fired == POINTS, f"crash points never reached: {sorted(POINTS - fired)}"
    states = {s for r in results for s in r.kill_states}
    assert set(LIVE) <= states, f"no kill in {sorted(set(LIVE) - states)}"
    missed = [m for r in results for m in r.late_missed]
    assert all(r.late_held for r in results), f"no late-delivered order in a campaign: {missed}"
    violations = [v for r in results for v in r.verdict.violations]
    assert not violations, "\n".join(violations)
    assert all(r.verdict.rounds["DONE"] > 0 for r in results)
    # rounds crossed settlements (every 36 s): their PnL was checked with their funding
    assert sum(r.verdict.funded for r in results) > 0
    recoveries = [t for r in results for t in r.recoveries]
    assert len(recoveries) >= 40
    assert max(recoveries) < READY_TIMEOUT


def test_position_behind_the_daemons_back_halts_the_pair(tmp_path: Path) -> None:
    result = foreign_exposure(tmp_path, SEED)
    assert not result.verdict.violations, "\n".join(result.verdict.violations)
    assert result.halted_reasons, "no round was halted"
    assert all(f"{ASTER} SOLUSDT position" in why for why in result.halted_reasons)
    assert result.blocked is not None and "rounds expect" in result.blocked
    assert f"not opening rounds: {result.blocked}" in result.status, result.status
    assert "HALTED" in result.status
    assert result.rounds_after == result.rounds_before  # no new round on that pair
