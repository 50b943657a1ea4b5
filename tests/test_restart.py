"""Restart in every state: drop the engine mid-step (at each named crash point) or between
steps, start a new one on the same store and simulator, and the round finishes with no
order sent twice and no position left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from roundkit import ASTER, BACKPACK, D, Rig

from hedged import crashpoints, orders
from hedged.crashpoints import SimulatedCrash
from hedged.model import OrderRequest, OrderType, Side
from hedged.store import utcnow


@pytest.fixture(autouse=True)
def quick_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 0.05)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, mode="single")
    await r.start()
    yield r
    crashpoints.disarm()
    await r.stop()


async def advance(rig: Rig, script: str) -> None:
    """One move of a scenario, chosen by the round's state."""
    state = rig.state()
    if state is None or state in ("OPENING", "CLOSING"):
        await rig.tick()
    elif state == "MONITORING":
        await rig.move("100.9")  # the short's stop
    elif state == "LIMIT_SET":
        if script == "take_profit":
            await rig.move("101.5")  # the long's take-profit fills
        else:
            rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
            await rig.tick()


async def run_to_done(rig: Rig, script: str, crash: bool) -> int:
    """Drive the scenario; on each simulated crash start a new engine. Returns crashes."""
    crashes = 0
    for _ in range(200):
        if rig.state() == "DONE":
            return crashes
        try:
            await advance(rig, script)
        except SimulatedCrash:
            assert crash, "crashed without a crash point armed"
            crashes += 1
            await rig.start()
    raise AssertionError(f"round stuck in {rig.state()}")


CASES = [
    ("after_intent_commit", 1, "take_profit"),  # entry intents durable, nothing sent
    ("after_send", 1, "take_profit"),  # first entry leg placed, answer not stored
    ("between_entry_legs", 1, "take_profit"),
    ("after_intent_commit", 2, "take_profit"),  # stop intent durable, not sent
    ("after_send", 3, "take_profit"),  # stop placed, answer not stored
    ("after_stop_fill", 1, "take_profit"),  # losing leg closed, no take-profit yet
    ("after_intent_commit", 3, "take_profit"),  # take-profit intent durable, not sent
    ("after_send", 4, "take_profit"),  # take-profit resting, answer not stored
    ("take_profit_resting", 1, "take_profit"),
    ("closing_after_cancel", 1, "time_limit"),  # take-profit cancelled, legs not closed
    ("after_send", 5, "time_limit"),  # the cancel's follow-up market close placed
]


@pytest.mark.parametrize(
    ("point", "nth", "script"), CASES, ids=[f"{p}-{n}-{s}" for p, n, s in CASES]
)
async def test_crash_at_each_point_resumes_without_duplicates(
    rig: Rig, point: str, nth: int, script: str
) -> None:
    crashpoints.arm(point, nth)
    crashes = await run_to_done(rig, script, crash=True)
    assert crashes == 1, f"{point}#{nth} never fired"
    await rig.check_invariants()
    kinds = [e.kind for e in rig.store.events_of(1)]
    assert kinds.count("round_created") == 1


@pytest.mark.parametrize("state", ["MONITORING", "LIMIT_SET"])
async def test_clean_restart_in_state_keeps_protecting_the_round(rig: Rig, state: str) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    if state == "LIMIT_SET":
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
    await rig.start()  # a new process: same store, same venues
    assert rig.state() == state
    await run_to_done(rig, "take_profit", crash=False)
    tps = [o for o in rig.store.orders_of(1) if o.purpose == "TAKE_PROFIT"]
    assert len(tps) == 1, "the resting take-profit was re-found, not placed again"
    await rig.check_invariants()


async def test_crash_inside_reconciliation_is_itself_recoverable(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    await rig.move("100.9")
    await rig.until("LIMIT_SET")
    crashpoints.arm("inside_reconcile")
    with pytest.raises(SimulatedCrash):
        await rig.start()
    await rig.start()
    assert rig.state() == "LIMIT_SET"
    await run_to_done(rig, "take_profit", crash=False)
    await rig.check_invariants()


async def test_position_opened_behind_our_back_halts_and_blocks_the_pair(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    foreign = OrderRequest(
        "manual-1", rig.world.symbols[ASTER], Side.SELL, OrderType.MARKET, D("1")
    )
    rig.world.venues[ASTER].place("test", foreign)
    engine = await rig.start()
    r = rig.round()
    assert r.state == "HALTED" and r.halted_from == "MONITORING"
    assert r.reason is not None and "aster SOLUSDT position -1.24, rounds expect -0.24" in r.reason
    assert engine.blocked is not None
    await rig.tick(3)
    assert rig.store.count_rounds() == 1  # no new round on an unexplained pair
    assert await rig.position(BACKPACK) == D("0.24")  # and the halted round is left alone
    shown = subprocess.run(
        [sys.executable, "-m", "hedged.ctl", "status", "--db", rig.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=os.environ | {"COLUMNS": "200"},
    ).stdout
    assert "HALTED" in shown and "not opening rounds: aster SOLUSDT position -1.24" in shown


async def test_orphan_order_of_ours_is_cancelled_at_start(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    assert rig.engine is not None
    orphan_id = rig.venues[BACKPACK].client_id(rig.store.namespace, 999_999)
    symbol = rig.world.symbols[BACKPACK]
    rig.world.venues[BACKPACK].place(
        "test",
        OrderRequest(
            orphan_id, symbol, Side.SELL, OrderType.LIMIT, D("0.24"), D("150"), reduce_only=True
        ),
    )
    await rig.start()
    left = await rig.venues[BACKPACK].open_orders(symbol)
    backstops = [o for o in rig.store.orders_of(1) if o.purpose == "BACKSTOP"]
    assert [o.client_id for o in left] == [o.client_id for o in backstops if o.venue == BACKPACK]
    assert rig.state() == "MONITORING"
