"""Fleet proof, the short seeded version CI runs (the long one: `make fleet-soak`).

Three daemons share twelve pairs' books on PostgreSQL; one is killed with -9, one frozen
with SIGSTOP and woken, a fourth joins and leaves: each struck daemon's
books are taken by the others, the books are shared fairly again, and no book ever had two
traders (from the venues' records), with the kill -9 invariants (fleet.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fleet import KINDS, run_fleet, summary

SEED = 20261207


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_fleet_of_three_on_twelve_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    result = run_fleet(tmp_path, SEED, 3, store_url, daemons=3, pairs=12, wall_limit=300.0)
    with capsys.disabled():
        print("\n" + summary([result]))
    assert result.verdict.violations == []
    assert result.verdict.duplicates == 0 and result.verdict.orphan_exposure == 0
    assert result.holders.foreign == [] and result.holders.checked > 0
    assert {s.kind for s in result.strikes} == set(KINDS)
    assert len(result.takeovers) == 2 and len(result.rebalances) == 3
    assert result.verdict.rounds["DONE"] >= 6 and result.verdict.pnl_checked >= 6
