"""A take-profit that adapts (off by default): it decays toward `take_profit_decay_to`, and
becomes a post-only limit at the touch `exit_as_maker_seconds` before the time limit; each
re-price cancels (read back) before it places, never two take-profits live at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from roundkit import BACKPACK, D, Rig, make_config

from hedged import config
from hedged.model import OrderType
from hedged.sim.records import SimOrder
from hedged.states.context import TAKE_PROFIT
from hedged.store import OrderRow, utcnow


def take_profits(rig: Rig) -> list[OrderRow]:
    return [o for o in rig.store.orders_of(1) if o.purpose == TAKE_PROFIT]


def open_at_venue(rig: Rig) -> list[SimOrder]:
    exchange = rig.world.venues[BACKPACK]
    return exchange.open_orders(rig.venues[BACKPACK].account, rig.world.symbols[BACKPACK])


def limits_at_venue(rig: Rig) -> list[SimOrder]:
    return [o for o in open_at_venue(rig) if o.type is OrderType.LIMIT]


def beside_its_backstop(rig: Rig) -> bool:
    """The survivor's one take-profit and its reduce-only backstop rest side by side."""
    kinds = sorted((o.type, o.reduce_only) for o in open_at_venue(rig))
    return kinds == [(OrderType.LIMIT, True), (OrderType.STOP_MARKET, True)]


async def into_limit_set(rig: Rig) -> OrderRow:
    """The Aster short stops out; the Backpack long rests its first take-profit."""
    await rig.tick()
    await rig.until("MONITORING")
    await rig.move("100.9")
    await rig.until("LIMIT_SET")
    await rig.tick()
    (first,) = take_profits(rig)
    return first


async def test_the_take_profit_decays_toward_its_floor(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single", take_profit_decay_to="0.002", reprice_seconds="1")
    await rig.start()
    try:
        first = await into_limit_set(rig)
        assert first.price == D("101.22")  # entry 100.01 x 1.012, rounded up to the tick
        await rig.move("100.2")  # back near the entry: a lower target still rests
        # half the time to the limit is gone when the next re-price falls due
        rig.store.update_round(1, deadline_at=first.created_at + timedelta(seconds=2.4))
        await asyncio.sleep(1.2)
        for _ in range(50):
            if len(take_profits(rig)) == 2:
                break
            await asyncio.sleep(0.02)
            await rig.tick()
        old, new = take_profits(rig)
        assert old.status == "CANCELED" and new.status == "NEW"
        assert new.price is not None and D("100.22") < new.price < first.price
        assert [o.price for o in limits_at_venue(rig)] == [new.price]  # one at a time
        assert beside_its_backstop(rig)
        rig.world.set_price(new.price + D("0.05"))  # the bid reaches the lower target
        r = await rig.until("DONE")
        assert r.reason == "take-profit on backpack"
        filled = [o for o in take_profits(rig) if o.filled_qty > 0]
        assert [o.id for o in filled] == [new.id]
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_the_exit_turns_maker_at_the_touch_before_the_time_limit(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single", exit_as_maker_seconds=5)
    await rig.start()
    try:
        first = await into_limit_set(rig)
        assert not first.post_only
        rig.store.update_round(1, deadline_at=utcnow() + timedelta(seconds=3))
        for _ in range(50):  # the slow timer steps the round (its target moves)
            if take_profits(rig)[-1].post_only:
                break
            await asyncio.sleep(0.02)
            await rig.tick()
        maker = take_profits(rig)[-1]
        ask = rig.world.book(BACKPACK).ask
        assert (maker.post_only, maker.price) == (True, ask)  # a sell resting at the ask
        (at_venue,) = limits_at_venue(rig)
        assert (at_venue.post_only, at_venue.price) == (True, ask)
        assert beside_its_backstop(rig)
        rig.world.set_price(ask + D("0.05"))  # the bid comes up to it: filled as a maker
        r = await rig.until("DONE")
        assert r.reason == "take-profit on backpack"
        fills = [f for f in rig.store.fills_of(1) if f.order_id == maker.id]
        assert fills and all(f.maker for f in fills)
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_without_the_options_the_take_profit_never_moves(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single")
    await rig.start()
    try:
        first = await into_limit_set(rig)
        rig.store.update_round(1, deadline_at=first.created_at + timedelta(seconds=60))
        await asyncio.sleep(0.2)
        await rig.tick(3)
        assert [o.id for o in take_profits(rig)] == [first.id]
    finally:
        await rig.stop()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strategy.take_profit_decay_to": "0.02"}, "must be at most take_profit (0.012)"),
        ({"strategy.take_profit_decay_to": "-0.01"}, "above -stop_loss (-0.008)"),
        ({"strategy.exit_as_maker_seconds": 3600}, "shorter than max_round_seconds (3600)"),
        ({"strategy.reprice_seconds": "0.5"}, "reprice_seconds"),
    ],
)
def test_the_options_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        make_config() if not overrides else config.load(None, overrides=overrides)
    assert message in str(caught.value)


def test_defaults_leave_the_take_profit_alone() -> None:
    s = make_config().strategy
    assert (s.take_profit_decay_to, s.exit_as_maker_seconds) == (None, 0)
    assert s.reprice_seconds == Decimal(30)
