"""A round's direction is its own: with the short on Backpack every path of the strategy
(stop-loss, take-profit, second stop, time limit, backstops) runs as with the short on
Aster, the legs' roles swapped; each ends DONE with the invariants holding at the venues."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from roundkit import ASTER, BACKPACK, D, Rig, make_config
from test_fault_matrix import ACCOUNT, HttpRig

from hedged.legs import legs_of, other_venue
from hedged.model import OrderType, Side
from hedged.states.context import BACKSTOP, STOP, TAKE_PROFIT
from hedged.store import utcnow

DIRECTIONS = {"aster_short": ASTER, "backpack_short": BACKPACK}


@pytest.fixture(params=list(DIRECTIONS))
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, mode="single", direction=request.param)
    await r.start()
    yield r
    await r.stop()


def roles(rig: Rig) -> tuple[str, str]:
    short = DIRECTIONS[rig.config.strategy.direction]
    return short, other_venue(short)


async def open_round(rig: Rig) -> tuple[str, str]:
    short, long = roles(rig)
    await rig.tick()
    r = await rig.until("MONITORING")
    assert r.short_venue == short
    assert await rig.position(short) == -(r.qty or 0) and await rig.position(long) == r.qty
    legs = legs_of(r, rig.store.orders_of(1))
    assert (legs[short].side, legs[long].side) == (Side.SELL, Side.BUY)
    return short, long


async def test_the_short_stops_out_and_the_long_takes_its_profit(rig: Rig) -> None:
    short, long = await open_round(rig)
    await rig.move("100.9")  # the short loses > 0.8 %
    r = await rig.until("LIMIT_SET")
    assert r.reason is not None and f"stop-loss on {short}" in r.reason
    (tp,) = [o for o in rig.store.orders_of(1) if o.purpose == TAKE_PROFIT]
    assert (tp.venue, tp.side, tp.reduce_only) == (long, Side.SELL.value, True)
    await rig.move("101.5")  # the long's bid crosses its take-profit
    r = await rig.until("DONE")
    assert r.reason == f"take-profit on {long}"
    await rig.check_invariants()


async def test_the_long_stops_out_then_the_short(rig: Rig) -> None:
    short, long = await open_round(rig)
    await rig.move("99.1")  # the long loses > 0.8 %
    r = await rig.until("LIMIT_SET")
    assert r.reason is not None and f"stop-loss on {long}" in r.reason
    (tp,) = [o for o in rig.store.orders_of(1) if o.purpose == TAKE_PROFIT]
    assert (tp.venue, tp.side) == (short, Side.BUY.value)
    await rig.move("101.0")  # now the short, entered near 99.99, loses > 0.8 % too
    r = await rig.until("DONE")
    assert r.reason == f"stop-loss on both legs ({short} last)"
    await rig.check_invariants()


@pytest.mark.parametrize("stopped_first", [False, True], ids=["monitoring", "limit_set"])
async def test_the_time_limit_closes_both_legs(rig: Rig, stopped_first: bool) -> None:
    await open_round(rig)
    if stopped_first:
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    r = await rig.until("DONE")
    assert r.reason == "time limit"
    await rig.check_invariants()


async def test_the_shorts_backstop_fired_while_no_daemon_ran(rig: Rig) -> None:
    short, long = await open_round(rig)
    (backstop,) = [o for o in rig.store.orders_of(1) if o.purpose == BACKSTOP and o.venue == short]
    assert (backstop.side, backstop.type) == (Side.BUY.value, OrderType.STOP_MARKET.value)
    await rig.stop()
    rig.world.set_price(D("102.5"))  # past the short's backstop: the venue closes it
    assert await rig.position(short) == 0
    await rig.start()
    r = await rig.until("LIMIT_SET")
    assert r.reason == f"backstop fired on {short}"
    assert not [o for o in rig.store.orders_of(1) if o.purpose == STOP]
    await rig.move("103.5")  # the long's take-profit fills
    r = await rig.until("DONE")
    assert r.reason == f"take-profit on {long}"
    await rig.check_invariants()


async def test_the_survivors_backstop_ends_the_round(rig: Rig) -> None:
    short, _long = await open_round(rig)
    await rig.move("99.1")  # the long stops out; the short survives with its backstop
    await rig.until("LIMIT_SET")
    await rig.tick()
    await rig.stop()
    rig.world.set_price(D("102.5"))
    assert await rig.position(short) == 0
    await rig.start()
    r = await rig.until("DONE")
    assert r.reason == f"backstop fired on {short}"
    await rig.check_invariants()


async def test_over_the_wire_a_backpack_short_round_runs_to_done(tmp_path: Path) -> None:
    """The real clients and the wire simulators: the Backpack short is sold, stopped out
    (bought back), and the Aster long's take-profit sells; the invariants hold on the venues'
    own records."""
    rig = HttpRig(tmp_path)
    rig.config = make_config(mode="single", direction="backpack_short")
    await rig.start()
    try:
        await rig.until("MONITORING")
        qty = rig.world.venues[BACKPACK].position(ACCOUNT, rig.world.symbols[BACKPACK]).qty
        assert qty < 0
        assert rig.world.venues[ASTER].position(ACCOUNT, rig.world.symbols[ASTER]).qty == -qty
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
        await rig.move("101.5")
        await rig.until("DONE")
        r = rig.store.get_round(1)
        assert r is not None and r.reason == "take-profit on aster"
        await rig.check_invariants()
    finally:
        await rig.stop()
