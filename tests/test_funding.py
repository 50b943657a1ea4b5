"""Funding in a round's PnL, through the real engine: rounds held across the simulators'
settlements on both venues (their short funding interval) collect every payment while they
hold their legs, and end DONE with realized PnL = fills - fees + funding, to the digit, from
the simulators' own records; a settlement paid while no daemon ran is collected once after
the restart; several rounds on one symbol share a payment pro rata."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from roundkit import ASTER, BACKPACK, START, D, Rig
from test_ctl import run_ctl
from test_fault_matrix import HttpRig

from hedged import funding
from hedged.funding import FundingCollector, last_boundary, position_at, split
from hedged.legs import VENUES
from hedged.model import FundingInfo
from hedged.orders import OrderDesk
from hedged.sim.funding import FundingPlan, FundingSchedule
from hedged.sim.world import World, default_world
from hedged.store import FillRow, Store

DEADLINE = 60.0  # a scenario waits at most this long for the simulators' settlements


def funded_world(clock: Callable[[], float] = time.time, hours: str = "0.0003") -> World:
    """The rounds' world with each venue settling every `hours` (0.0003: about a second)."""
    world = default_world(
        seed=1, start_price=START, volatility=D("0.5"), spread_bps=D(2), clock=clock
    )
    world.funding = {
        ASTER: FundingSchedule(FundingPlan(D(hours), D("0.0001"), D("0.00005"), seed=3), clock),
        BACKPACK: FundingSchedule(FundingPlan(D(hours), D("0.00002"), D("0.00003"), seed=4), clock),
    }
    return world


def payments(rig: Rig | HttpRig, venue: str) -> list[dict[str, Any]]:
    state = rig.world.venues[venue].to_dict()
    return list(state["funding_payments"])


def venue_pnl(rig: Rig | HttpRig, account: str) -> Decimal:
    """Fills - fees + funding over both venues, from the simulators' records alone."""
    total = D(0)
    for v in VENUES:
        state = rig.world.venues[v].to_dict()
        for f in state["fills"]:
            if f["account"] == account:
                notional = D(f["qty"]) * D(f["price"])
                total += (notional if f["side"] == "SELL" else -notional) - D(f["fee"])
        total += sum((D(p["amount"]) for p in state["funding_payments"]), D(0))
    return total


async def hold_until_paid(rig: Rig | HttpRig, n: int) -> None:
    """Keep the world's price ticking (settlements are paid on price moves) until each
    venue has paid the account `n` times."""
    deadline = time.monotonic() + DEADLINE
    while any(len(payments(rig, v)) < n for v in VENUES):
        assert time.monotonic() < deadline, "the simulators paid no funding"
        rig.world.set_price(START)
        await rig.tick()
        await asyncio.sleep(0.05)


async def test_a_round_across_settlements_on_both_venues_has_its_funding_in_its_pnl(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, world=funded_world(), mode="single")
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING")
        await hold_until_paid(rig, 3)
        # collected while the legs are held (the timer's pass after each settlement)
        deadline = time.monotonic() + DEADLINE
        while {r.venue for r in rig.store.funding_of(1)} != set(VENUES):
            assert time.monotonic() < deadline, "no funding collected while the round held"
            await rig.tick()
            await asyncio.sleep(0.05)
        # hedgectl shows each open leg's funding so far and both venues' next settlements,
        # from the store alone
        status = run_ctl("status", "--json", "--db", rig.url).json()
        [shown] = status["rounds"]
        accrued = {v: D(0) for v in VENUES}
        for row in rig.store.funding_of(1):
            accrued[row.venue] += row.amount
        assert {leg["venue"]: D(leg["funding"]) for leg in shown["legs"]} == accrued
        assert D(shown["funding"]) == sum(accrued.values(), D(0))
        rates = {(f["venue"], f["symbol"]): f for f in status["funding"]}
        assert set(rates) == {(v, rig.world.symbols[v]) for v in VENUES}
        assert all(D(f["interval_hours"]) == D("0.0003") for f in rates.values())
        table = run_ctl("status", "--db", rig.url).out
        assert "funding: aster SOLUSDT next" in table
        rig.store.add_command("close", 1)
        r = await rig.until("DONE", ticks=400)
        paid = {v: payments(rig, v) for v in VENUES}
        stored = rig.store.funding_of(1)
        assert sorted((f.venue, f.amount) for f in stored) == sorted(
            (v, D(p["amount"])) for v in VENUES for p in paid[v]
        )
        assert len({(f.venue, f.payment_id) for f in stored}) == len(stored)  # none twice
        assert r.realized_pnl == venue_pnl(rig, "test")
        assert rig.store.funding_by_round([1])[1] == sum((f.amount for f in stored), D(0))
        await rig.check_invariants()
        # the rates and next settlements hedgectl shows, as the daemon last read them
        assert set(rig.store.funding_rates()) == {(v, rig.world.symbols[v]) for v in VENUES}
    finally:
        await rig.stop()


async def test_rounds_over_the_wire_simulators_pay_funding_into_pnl(tmp_path: Path) -> None:
    """The same through the real clients: income FUNDING_FEE rows on Aster, the funding
    history on Backpack."""
    rig = HttpRig(tmp_path, funding_hours=D("0.0003"))
    await rig.start()
    try:
        await rig.until("MONITORING")
        await hold_until_paid(rig, 2)
        rig.store.add_command("close", 1)
        assert await rig.until("DONE") == "DONE"
        r = rig.store.get_round(1)
        assert r is not None and r.realized_pnl == venue_pnl(rig, "matrix")
        assert len(rig.store.funding_of(1)) == sum(len(payments(rig, v)) for v in VENUES)
        await rig.check_invariants()
    finally:
        await rig.stop()


class Clock:
    """The simulators' clock, moved by the test (the daemon keeps its own)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()) // 3600 * 3600 + 600)  # 10 minutes into an hour

    def __call__(self) -> float:
        return self.now


async def test_a_settlement_paid_while_the_daemon_was_down_is_collected_once(
    tmp_path: Path,
) -> None:
    clock = Clock()
    rig = Rig(tmp_path, world=funded_world(clock, hours="1"), mode="single")
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING")
        assert rig.store.funding_of(1) == []
        assert rig.engine is not None
        await rig.engine.stop()  # the daemon is down...
        rig.engine = None
        clock.now += 2 * 3600  # ...over two hourly settlements on each venue
        rig.world.set_price(START)
        assert all(len(payments(rig, v)) == 2 for v in VENUES)
        for _restart in range(2):  # collected at the start; a second start adds nothing
            await rig.start()
            await rig.tick(3)
            stored = rig.store.funding_of(1)
            assert sorted((f.venue, f.amount) for f in stored) == sorted(
                (v, D(p["amount"])) for v in VENUES for p in payments(rig, v)
            )
        rig.store.add_command("close", 1)
        r = await rig.until("DONE")
        assert r.realized_pnl == venue_pnl(rig, "test")
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_two_rounds_on_one_symbol_share_a_payment_by_their_positions(
    tmp_path: Path,
) -> None:
    clock = Clock()
    rig = Rig(
        tmp_path,
        world=funded_world(clock, hours="1"),
        max_concurrent_rounds=2,
        backstop_stop=0,
    )
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING", 1)
        await rig.tick()
        await rig.until("MONITORING", 2)
        assert rig.engine is not None
        rig.engine.pause(True)
        clock.now += 3600
        rig.world.set_price(START)
        await rig.engine.stop()
        rig.engine = None
        await rig.start()
        await rig.tick(3)
        for v in VENUES:
            [paid] = payments(rig, v)
            shares = [f for r in (1, 2) for f in rig.store.funding_of(r) if f.venue == v]
            assert [f.round_id for f in shares] == [1, 2]
            assert sum((f.amount for f in shares), D(0)) == D(paid["amount"])
            assert shares[0].amount == (
                D(paid["amount"])
                * shares[0].share_qty
                / (shares[0].share_qty + shares[1].share_qty)
            ).quantize(D("1e-12"))
        for r in (1, 2):
            rig.store.add_command("close", r)
        await rig.until("DONE", 1)
        await rig.until("DONE", 2)
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_a_round_between_two_settlements_reads_no_funding_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most rounds of a busy daemon open and close between two settlements: the schedule
    says nothing can have been paid, and the round ends DONE without a history read (on
    Aster one costs weight 30 a symbol, and many pairs' rounds end every few seconds)."""
    clock = Clock()  # ten minutes into the hour, for the simulators and the daemon alike
    monkeypatch.setattr(funding, "utcnow", lambda: datetime.fromtimestamp(clock.now, UTC))
    rig = Rig(tmp_path, world=funded_world(clock, hours="1"), mode="single")
    reads: list[str] = []
    for v in VENUES:
        venue = rig.venues[v]

        async def counted(symbol: str, since: datetime, read: Any = venue.funding_payments) -> Any:
            reads.append(symbol)
            return await read(symbol, since)

        monkeypatch.setattr(venue, "funding_payments", counted)
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING")
        rig.store.add_command("close", 1)
        r = await rig.until("DONE")
        assert reads == []
        assert rig.store.funding_of(1) == [] and r.realized_pnl == venue_pnl(rig, "test")
        await rig.check_invariants()
    finally:
        await rig.stop()


# -- the arithmetic --------------------------------------------------------------------


def test_split_is_pro_rata_by_signed_position_and_adds_up_exactly() -> None:
    assert split(D("0.03"), {1: D("0.5"), 2: D("1.0")}) == {1: D("0.01"), 2: D("0.02")}
    thirds = split(D("0.01"), {3: D(1), 1: D(1), 2: D(1)})
    assert thirds == {1: D("0.003333333333"), 2: D("0.003333333333"), 3: D("0.003333333334")}
    assert sum(thirds.values()) == D("0.01")
    assert split(D("-0.5"), {1: D(2)}) == {1: D("-0.5")}  # one holder: the payment itself
    # opposite positions: each its own side's funding (the net paid is on the net position)
    assert split(D("0.02"), {1: D(-3), 2: D(1)}) == {1: D("0.03"), 2: D("-0.01")}
    assert split(D("0.02"), {1: D(0), 2: D(0)}) == {}


def fill(at: datetime, side: str, qty: str, venue: str = ASTER) -> FillRow:
    return FillRow(
        order_id=1, round_id=1, venue=venue, trade_id="1", side=side, qty=D(qty),
        price=D(100), fee=D(0), at=at,
    )  # fmt: skip


def test_position_at_a_settlement_counts_only_earlier_trades() -> None:
    t = datetime(2026, 12, 7, 8, tzinfo=UTC)
    fills = [fill(t - timedelta(hours=1), "SELL", "2"), fill(t, "BUY", "2")]
    assert position_at(fills, t) == D(-2)  # the close at the settlement's time comes after
    assert position_at(fills, t + timedelta(microseconds=1)) == 0
    assert position_at(fills, t - timedelta(hours=2)) == 0


@pytest.mark.parametrize(
    ("at", "boundary"),
    [
        ("07:59:59", "00:00:00"),
        ("08:00:00", "08:00:00"),
        ("08:00:05", "08:00:00"),
        ("23:59:59", "16:00:00"),
        ("00:30:00", "00:00:00"),
    ],
)
def test_last_boundary_follows_the_schedule_back(at: str, boundary: str) -> None:
    day = "2026-12-07T"
    info = FundingInfo("SOLUSDT", D("0.0001"), D(8), datetime.fromisoformat(day + "16:00:00+00:00"))
    assert last_boundary(info, datetime.fromisoformat(day + at + "+00:00")) == (
        datetime.fromisoformat(day + boundary + "+00:00")
    )


def test_a_leg_closed_just_after_a_settlement_waits_out_the_venues_booking_lag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venue's history is the authority, but a venue may book a settlement a moment
    after its time: a leg whose last fill came within the lag after one is finished by a
    read made once the lag has passed; any other leg by a read started after its close."""
    monkeypatch.setattr(funding, "SETTLEMENT_LAG", timedelta(seconds=10))
    now = datetime(2026, 12, 7, 9, 0, 30, tzinfo=UTC)
    monkeypatch.setattr(funding, "utcnow", lambda: now)
    store = Store(f"sqlite:///{tmp_path / 'lag.db'}")
    try:
        collector = FundingCollector(
            store, {}, OrderDesk(store, {}), lambda *_: None, lambda _: None
        )
        r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
        hour = datetime(2026, 12, 7, 9, tzinfo=UTC)
        collector.infos[(ASTER, "SOLUSDT")] = FundingInfo(
            "SOLUSDT", D(0), D(8), hour + timedelta(hours=8)
        )
        collector.infos[(BACKPACK, "SOL_USDC_PERP")] = FundingInfo(
            "SOL_USDC_PERP", D(0), D(1), hour + timedelta(hours=1)
        )
        fills = [
            fill(hour - timedelta(minutes=1), "SELL", "1"),  # aster: open over 09:00 ...
            fill(hour + timedelta(seconds=3), "BUY", "1"),  # ... closed 3 s after it
            fill(hour - timedelta(minutes=30), "BUY", "1", BACKPACK),  # open over 09:00 ...
            fill(hour + timedelta(seconds=20), "SELL", "1", BACKPACK),  # ... closed long after
        ]
        assert collector._ready_at(r, fills) == {
            (ASTER, "SOLUSDT"): now + timedelta(seconds=7),
            (BACKPACK, "SOL_USDC_PERP"): now,
        }
        # A history read skips a held leg no settlement can have paid yet (one opened less
        # than the lag after a settlement may still be paid by it).
        aster = (ASTER, "SOLUSDT")
        assert not collector._paid_since(aster, hour + timedelta(seconds=11))
        assert collector._paid_since(aster, hour + timedelta(seconds=9))
        assert collector._paid_since((BACKPACK, "SOL_USDC_PERP"), hour - timedelta(hours=1))
        assert collector._paid_since((ASTER, "BTCUSDT"), hour)  # schedule unknown
    finally:
        store.close()
