"""Backstops: a reduce-only stop order resting on each open leg's venue, checked at the
simulators in every state; fired while the daemon is down (no restart until the price has
passed it) and in a gap while it runs; refused; turned off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from roundkit import ASTER, BACKPACK, D, Rig
from test_fault_matrix import ACCOUNT, HttpRig

from hedged.engine import Engine
from hedged.legs import VENUES, legs_of
from hedged.model import OrderStatus, OrderType, Side
from hedged.sim.records import SimOrder
from hedged.states.context import BACKSTOP, STOP
from hedged.store import utcnow

# Entries at the rig's 99.99 / 100.01 book: the Aster short at 99.99, the Backpack long at
# 100.01; backstops 2 % beyond, on the 0.01 tick, rounded toward the entry.
ASTER_BACKSTOP = D("101.98")  # 99.99 * 1.02 = 101.9898
BACKPACK_BACKSTOP = D("98.01")  # 100.01 * 0.98 = 98.0098


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, mode="single")
    await r.start()
    yield r
    await r.stop()


def resting(rig: Rig, venue: str) -> list[SimOrder]:
    """Our orders open at the venue, as its own records have them."""
    exchange = rig.world.venues[venue]
    return exchange.open_orders(rig.venues[venue].account, rig.world.symbols[venue])


def stops_at_venues(rig: Rig) -> dict[str, list[tuple[Side, Decimal, Decimal | None]]]:
    return {
        v: [
            (o.side, o.qty, o.trigger_price)
            for o in resting(rig, v)
            if o.type is OrderType.STOP_MARKET and o.reduce_only
        ]
        for v in VENUES
    }


async def test_every_open_leg_has_its_backstop_in_every_state(rig: Rig) -> None:
    await rig.tick()
    r = await rig.until("MONITORING")
    qty = r.qty
    assert qty is not None
    assert stops_at_venues(rig) == {
        ASTER: [(Side.BUY, qty, ASTER_BACKSTOP)],
        BACKPACK: [(Side.SELL, qty, BACKPACK_BACKSTOP)],
    }
    await rig.move("100.9")  # the short stops out
    await rig.until("LIMIT_SET")
    await rig.tick()
    # the stopped leg's backstop is cancelled; the survivor rests its take-profit beside it
    assert stops_at_venues(rig) == {ASTER: [], BACKPACK: [(Side.SELL, qty, BACKPACK_BACKSTOP)]}
    kinds = sorted(o.type for o in resting(rig, BACKPACK))
    assert kinds == [OrderType.LIMIT, OrderType.STOP_MARKET]
    await rig.move("101.5")  # the take-profit fills
    r = await rig.until("DONE")
    assert r.reason == "take-profit on backpack"
    assert resting(rig, ASTER) == [] and resting(rig, BACKPACK) == []
    backstops = [o for o in rig.store.orders_of(1) if o.purpose == BACKSTOP]
    assert {o.status for o in backstops} == {OrderStatus.CANCELED.value}
    events = [e.kind for e in rig.store.events_of(1)]
    assert events.count("intent") >= 4
    await rig.check_invariants()


async def test_a_backstop_fired_while_no_daemon_runs_is_the_legs_exit(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    await rig.stop()  # the host is gone: nothing watches the prices
    rig.world.set_price(D("102.5"))  # past the short's backstop (and its software stop)
    assert stops_at_venues(rig)[ASTER] == []  # it fired at the venue
    assert await rig.position(ASTER) == 0
    await rig.start()
    r = await rig.until("LIMIT_SET")
    assert r.reason == "backstop fired on aster"
    fired = [o for o in rig.store.orders_of(1) if o.purpose == BACKSTOP and o.venue == ASTER]
    assert [o.status for o in fired] == ["FILLED"]
    assert not [o for o in rig.store.orders_of(1) if o.purpose == STOP]  # no second exit
    await rig.move("103.5")  # the long's take-profit fills
    r = await rig.until("DONE")
    assert r.reason == "take-profit on backpack"
    await rig.check_invariants()


async def test_the_survivors_backstop_fired_in_limit_set_ends_the_round(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    await rig.move("99.1")  # the long stops out; the short survives with its backstop
    await rig.until("LIMIT_SET")
    await rig.tick()
    await rig.stop()
    rig.world.set_price(D("102.5"))  # past the short's backstop, beyond its second stop
    assert await rig.position(ASTER) == 0
    await rig.start()
    r = await rig.until("DONE")
    assert r.reason == "backstop fired on aster"
    assert resting(rig, ASTER) == [] and resting(rig, BACKPACK) == []  # take-profit cancelled
    await rig.check_invariants()


async def test_a_gap_through_the_backstop_closes_the_leg_once(rig: Rig) -> None:
    """The price jumps past the software stop and the backstop at once: the venue fires the
    backstop; the daemon reads it back before sending its own stop and sends none."""
    await rig.tick()
    await rig.until("MONITORING")
    await rig.move("102.5")
    r = await rig.until("LIMIT_SET")
    assert r.reason == "backstop fired on aster"
    assert not [o for o in rig.store.orders_of(1) if o.purpose == STOP]
    exits = [o for o in rig.store.orders_of(1) if o.venue == ASTER and o.side == Side.BUY.value]
    assert [(o.purpose, o.filled_qty) for o in exits] == [(BACKSTOP, r.qty)]
    rig.world.set_price(D("103.5"))
    await rig.until("DONE")
    await rig.check_invariants()


async def test_a_refused_backstop_closes_the_round(rig: Rig) -> None:
    """Someone cancels the backstop at the venue; the daemon places it again, the venue
    refuses: the leg would run unprotected, so the round closes."""
    await rig.tick()
    await rig.until("MONITORING")
    (mine,) = [o for o in resting(rig, ASTER) if o.type is OrderType.STOP_MARKET]
    rig.world.venues[ASTER].cancel(mine.account, mine.symbol, client_id=mine.client_id)
    rig.venues[ASTER].faults.arm("place", "reject")
    assert rig.engine is not None
    r = await rig.until("DONE", ticks=100)
    assert r.reason is not None and r.reason.startswith("aster refused the backstop")
    assert await rig.position(ASTER) == 0 and await rig.position(BACKPACK) == 0
    await rig.check_invariants()


async def test_backstops_can_be_turned_off(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single", backstop_stop="0")
    await rig.start()
    try:
        await rig.tick()
        r = await rig.until("MONITORING")
        assert stops_at_venues(rig) == {ASTER: [], BACKPACK: []}
        legs = legs_of(r, rig.store.orders_of(1))
        assert all(leg.is_open for leg in legs.values())
    finally:
        await rig.stop()


async def test_closing_keeps_each_backstop_until_its_leg_is_flat(rig: Rig) -> None:
    """The time limit closes the round; the venue refuses Aster's close once: while that
    leg is still open it keeps its backstop, which goes once the leg is flat."""
    await rig.tick()
    r = await rig.until("MONITORING")
    rig.venues[ASTER].faults.arm("place", "reject")
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    await rig.tick()
    assert rig.state() == "CLOSING"
    assert await rig.position(ASTER) == -(r.qty or 0)  # its close was refused
    assert stops_at_venues(rig)[ASTER] == [(Side.BUY, r.qty, ASTER_BACKSTOP)]
    r = await rig.until("DONE", ticks=200)
    assert r.reason == "time limit"
    assert resting(rig, ASTER) == [] and resting(rig, BACKPACK) == []
    await rig.check_invariants()


@pytest.mark.parametrize(
    ("venue", "past", "survivor"), [(ASTER, "102.5", BACKPACK), (BACKPACK, "97.5", ASTER)]
)
async def test_over_the_wire_a_backstop_fired_while_down_is_found_at_start(
    tmp_path: Path, venue: str, past: str, survivor: str
) -> None:
    """Through the real clients and the wire simulators: the daemon stops in MONITORING, the
    price runs through one leg's backstop, the venue fires it; the next daemon finds that
    exit (no stop of its own), and the other leg, 2 % in profit by then, takes its profit."""
    rig = HttpRig(tmp_path)
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING")
        assert rig.engine is not None
        await rig.engine.stop()
        rig.world.set_price(D(past))
        assert rig.world.venues[venue].position(ACCOUNT, rig.world.symbols[venue]).qty == 0
        rig.engine = Engine(rig.config, rig.store, rig.clients())
        await rig.engine.start()
        await rig.until("DONE")
        moves = [e.detail for e in rig.store.events_of(1) if e.kind == "transition"]
        assert any(f"backstop fired on {venue}" in m for m in moves), moves
        orders = rig.store.orders_of(1)
        assert not [o for o in orders if o.purpose == STOP]
        exits = [o for o in orders if o.venue == venue and o.filled_qty and o.purpose != "ENTRY"]
        assert [o.purpose for o in exits] == [BACKSTOP]
        r = rig.store.get_round(1)
        assert r is not None and r.reason == f"take-profit on {survivor}"
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_concurrent_rounds_run_without_backstops_when_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Concurrent rounds share one net position per venue: a backstop that fired while no
    daemon ran would leave its round's take-profit to fill against another round's position.
    So they run only with backstop_stop = 0 (a configuration error otherwise: see
    test_config), and the daemon says at start that no stop rests on the venues."""
    rig = Rig(tmp_path, mode="continuous", max_concurrent_rounds=2, max_rounds=2, backstop_stop="0")
    await rig.start()
    try:
        assert "strategy.backstop_stop = 0: no stop order rests on the venues" in caplog.text
        await rig.tick()
        await rig.until("MONITORING", round_id=1)
        await rig.until("MONITORING", round_id=2)
        assert stops_at_venues(rig) == {ASTER: [], BACKPACK: []}
        orders = rig.store.orders_of(1) + rig.store.orders_of(2)
        assert not [o for o in orders if o.purpose == BACKSTOP]
    finally:
        await rig.stop()


async def test_a_leg_filled_while_the_other_entry_is_unsure_rests_its_backstop(rig: Rig) -> None:
    """OPENING: the Aster short fills; the Backpack entry's answer is lost (the venue never
    acts on it: it arrives after its signature window) and Backpack cannot be asked about it
    for now. While the round waits to learn what became of it, the open short has its
    backstop at its venue; once the long is known never placed, the round flattens the short
    and its backstop goes with it."""
    rig.venues[BACKPACK].faults.arm("place", "late", seconds=1.0)
    rig.venues[BACKPACK].faults.arm("query", "error_5xx", times=None)
    await rig.tick()
    assert rig.state() == "OPENING"
    qty = rig.round().qty
    assert qty is not None
    assert await rig.position(ASTER) == -qty
    assert stops_at_venues(rig) == {ASTER: [(Side.BUY, qty, ASTER_BACKSTOP)], BACKPACK: []}
    rig.venues[BACKPACK].faults.clear("query")
    r = await rig.until("DONE")
    assert r.reason is not None and r.reason.startswith("entry failed")
    assert resting(rig, ASTER) == [] and resting(rig, BACKPACK) == []
    await rig.check_invariants()
