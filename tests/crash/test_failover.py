"""Failover proof, the short seeded version CI runs (the long one: `make failover-soak`).

Two daemons on one store, the leader struck in every round state (kill -9, SIGSTOP/SIGCONT,
and on PostgreSQL its connections terminated), then random strikes: the standby takes over,
the deposed daemon sends nothing after the takeover and stands by, and the kill -9
invariants hold from the venues' records (failover.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from failover import STRIKES_PG, STRIKES_SQLITE, FailoverResult, run_failovers, summary
from harness import LIVE

SEED = 20261207


def _check(
    result: FailoverResult, capsys: pytest.CaptureFixture[str], kinds: tuple[str, ...]
) -> None:
    with capsys.disabled():
        print("\n" + summary([result]))
    assert result.verdict.violations == []
    assert result.verdict.duplicates == 0
    assert result.verdict.orphan_exposure == 0
    assert result.foreign_requests == 0
    assert result.status_checked
    struck = {(s.kind.split()[0], st) for s in result.strikes for st in s.state.split(",")}
    assert {(k, st) for k in kinds for st in LIVE} <= struck, "every kind in every state"
    assert result.verdict.rounds["DONE"] >= 5 and result.verdict.pnl_checked >= 5


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_failover_on_postgres(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store_url: str
) -> None:
    result = run_failovers(tmp_path, SEED, 30, store_url, lease_seconds="2", wall_limit=600.0)
    _check(result, capsys, STRIKES_PG)
    assert len(result.takeovers) >= 15


def test_failover_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    result = run_failovers(tmp_path, SEED + 1, 8, url, lease_seconds="2", wall_limit=300.0)
    _check(result, capsys, STRIKES_SQLITE)
