"""Every scenario of the original strategy, through the real engine on the simulator core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from roundkit import ASTER, BACKPACK, START, D, Rig

from hedged.legs import VENUES, legs_of
from hedged.sim.world import default_world
from hedged.states.context import BACKSTOP, ENTRY, Move, RoundContext
from hedged.states.machine import Trigger
from hedged.states.opening import SizingRefused, size
from hedged.store import new_order, utc_day_start, utcnow


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path, mode="single")
    await r.start()
    yield r
    await r.stop()


async def open_round(rig: Rig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    r = rig.round()
    assert r.qty == D("0.24")  # 25 USDT / 100.02 ask, rounded down to the 0.01 step
    assert await rig.position(ASTER) == -r.qty
    assert await rig.position(BACKPACK) == r.qty


async def test_losing_leg_stopped_then_take_profit_fills(rig: Rig) -> None:
    await open_round(rig)
    await rig.move("100.5")  # short loses ~0.5%: below the stop
    assert rig.state() == "MONITORING"
    await rig.move("100.9")  # short loses > 0.8%
    r = await rig.until("LIMIT_SET")
    assert r.reason is not None and "stop-loss on aster" in r.reason
    assert await rig.position(ASTER) == 0
    tps = [o for o in rig.store.orders_of(1) if o.purpose == "TAKE_PROFIT"]
    assert len(tps) == 1 and tps[0].venue == BACKPACK and tps[0].reduce_only
    legs = legs_of(r, rig.store.orders_of(1))
    entry = legs[BACKPACK].entry_price
    assert entry is not None and tps[0].price == (entry * D("1.012")).quantize(
        D("0.01"), "ROUND_CEILING"
    )
    await rig.move("101.5")  # the long's bid crosses the take-profit
    r = await rig.until("DONE")
    assert r.reason == "take-profit on backpack"
    assert await rig.position(BACKPACK) == 0
    assert r.realized_pnl is not None and r.fees is not None and r.fees > 0
    await rig.check_invariants()


async def test_losing_leg_stopped_then_remaining_leg_stopped(rig: Rig) -> None:
    await open_round(rig)
    await rig.move("99.1")  # the long loses > 0.8%
    await rig.until("LIMIT_SET")
    assert await rig.position(BACKPACK) == 0
    await rig.move("101.0")  # now the short, entered near 99.98, loses > 0.8% too
    r = await rig.until("DONE")
    assert r.reason == "stop-loss on both legs (aster last)"
    assert r.realized_pnl is not None and r.realized_pnl < 0
    await rig.check_invariants()


async def test_time_limit_in_monitoring(rig: Rig) -> None:
    await open_round(rig)
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    r = await rig.until("DONE")
    assert r.reason == "time limit"
    await rig.check_invariants()


async def test_time_limit_in_limit_set_cancels_take_profit(rig: Rig) -> None:
    await open_round(rig)
    await rig.move("100.9")
    await rig.until("LIMIT_SET")
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    r = await rig.until("DONE")
    assert r.reason == "time limit"
    tp = next(o for o in rig.store.orders_of(1) if o.purpose == "TAKE_PROFIT")
    assert tp.status == "CANCELED"
    await rig.check_invariants()


async def test_one_leg_rejected_at_open_flattens_the_other(rig: Rig) -> None:
    rig.venues[BACKPACK].faults.arm("place", "reject")
    await rig.tick()
    r = await rig.until("DONE")
    assert r.reason is not None and r.reason.startswith("entry failed: backpack: REJECTED")
    assert await rig.position(ASTER) == 0  # never left naked
    assert await rig.position(BACKPACK) == 0
    events = [e.kind for e in rig.store.events_of(1)]
    assert "order_rejected" in events
    await rig.check_invariants()


async def test_partial_fill_is_equalized_before_monitoring(rig: Rig) -> None:
    rig.venues[ASTER].faults.arm("place", "partial", fraction=D("0.5"))
    await rig.tick()
    r = await rig.until("MONITORING")
    assert r.qty == D("0.12")
    assert await rig.position(ASTER) == D("-0.12")
    assert await rig.position(BACKPACK) == D("0.12")
    trims = [o for o in rig.store.orders_of(1) if o.purpose == "TRIM"]
    assert [(o.venue, o.qty, o.reduce_only) for o in trims] == [(BACKPACK, D("0.12"), True)]
    await rig.move("100.9")
    await rig.until("LIMIT_SET")
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    await rig.until("DONE")
    await rig.check_invariants()


async def test_ambiguous_entry_is_resolved_by_query_never_resent(rig: Rig) -> None:
    rig.venues[ASTER].faults.arm("place", "accept_then_timeout")
    await rig.tick()
    await rig.until("MONITORING")
    entry = next(o for o in rig.store.orders_of(1) if o.venue == ASTER)
    assert entry.status == "FILLED"
    assert rig.venues[ASTER].submissions[entry.client_id or ""] == 1
    await rig.check_invariants()


async def test_ambiguous_entry_never_placed_is_final_after_window(rig: Rig) -> None:
    rig.venues[ASTER].faults.arm("place", "drop")
    await rig.tick()
    r = await rig.until("DONE")
    entry = next(o for o in rig.store.orders_of(1) if o.venue == ASTER)
    assert entry.status == "NEVER_PLACED"
    assert r.reason is not None and "entry failed" in r.reason
    assert await rig.position(BACKPACK) == 0
    await rig.check_invariants()


async def test_sizes_rounded_to_both_venues_rules(tmp_path: Path) -> None:
    world = default_world(seed=1, start_price=START, backpack_step=D("0.1"))
    rig = Rig(tmp_path, world, mode="single", position_size_usdt="45")
    await rig.start()
    try:
        await rig.tick()
        r = await rig.until("MONITORING")
        assert r.qty == D("0.4")  # 45 / 100.02 = 0.449..., down to Backpack's 0.1 step
        await rig.check_invariants()
    finally:
        await rig.stop()


def test_below_minimum_size_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    engine_rules = {
        v: rig.world.venues[v].markets[rig.world.symbols[v]].rules for v in (ASTER, BACKPACK)
    }
    quotes = {
        v: rig.venues[v]._quote(rig.world.symbols[v], rig.world.book(v)) for v in (ASTER, BACKPACK)
    }
    strategy = rig.config.strategy
    assert size(strategy, engine_rules, quotes) == D("0.24")
    from dataclasses import replace

    with pytest.raises(
        SizingRefused,
        match=r"position_size_usdt 3 buys 0.02 at 100.01: .*"
        r"notional .* below the minimum 5",
    ):
        size(replace(strategy, position_size_usdt=Decimal(3)), engine_rules, quotes)
    with pytest.raises(SizingRefused, match=r"quantity 0.00 is below the minimum"):
        size(replace(strategy, position_size_usdt=Decimal("0.5")), engine_rules, quotes)


async def test_below_minimum_size_stops_the_daemon_before_trading(tmp_path: Path) -> None:
    rig = Rig(tmp_path, position_size_usdt="3")
    with pytest.raises(SizingRefused):
        await rig.start()
    assert rig.store.count_rounds() == 0
    assert sum(rig.venues[ASTER].submissions.values()) == 0
    await rig.stop()


async def test_continuous_mode_runs_round_after_round(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="continuous", max_rounds=2)
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING", 1)
        rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
        await rig.until("DONE", 1)
        await rig.until("MONITORING", 2)
        rig.store.update_round(2, deadline_at=utcnow() - timedelta(seconds=1))
        await rig.until("DONE", 2)
        await rig.tick(3)
        assert rig.store.count_rounds() == 2  # max_rounds
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_stale_prices_never_trigger_a_stop(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single")
    await rig.start()
    try:
        await open_round(rig)
        assert rig.engine is not None
        rig.engine.prices.max_age = 0.0  # every price is now too old to act on
        rig.venues[ASTER].faults.arm("quote", "error_5xx", times=None)
        await rig.move("101.5")
        assert rig.state() == "MONITORING"  # no decision on a stale price
        rig.venues[ASTER].faults.clear()
        rig.engine.prices.max_age = 60.0
        await rig.tick()
        assert rig.state() == "MONITORING"  # the next price decides, not the timer
        await rig.move("101.5")
        await rig.until("LIMIT_SET")
    finally:
        await rig.stop()


async def test_operator_close_command_is_applied_and_acknowledged(rig: Rig) -> None:
    await open_round(rig)
    command = rig.store.add_command("close", 1)
    r = await rig.until("DONE")
    assert r.reason == "operator close"
    assert command.id is not None
    done = rig.store.get_command(command.id)
    assert done is not None and done.status == "DONE" and done.result == "round 1 is CLOSING"
    await rig.check_invariants()


async def test_pause_stops_new_rounds_and_flatten_closes_everything(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="continuous", max_concurrent_rounds=2, backstop_stop="0")
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING", 2)
        rig.store.add_command("flatten")
        await rig.tick(3)
        assert [rig.state(1), rig.state(2)] == ["DONE", "DONE"]
        assert rig.store.count_rounds() == 2  # paused: nothing new opens
        bad = rig.store.add_command("close", 99)
        await rig.tick()
        assert bad.id is not None
        failed = rig.store.get_command(bad.id)
        assert (
            failed is not None
            and failed.status == "FAILED"
            and "no round 99" in (failed.result or "")
        )
        rig.store.add_command("resume")
        await rig.tick()
        assert rig.store.count_rounds() == 3
        await rig.check_invariants()
    finally:
        await rig.stop()


async def test_halted_round_resumes_on_operator_command(rig: Rig) -> None:
    await open_round(rig)
    assert rig.engine is not None
    rig.engine.apply(rig.round(), Move(Trigger.HALT, "test: unexplained"))
    await rig.move("101.5")
    assert rig.state() == "HALTED"  # no action on a halted round, even past its stop
    rig.store.add_command("resume", 1)
    r = await rig.until("LIMIT_SET")
    assert r.halted_from is None


async def test_a_price_event_steps_only_the_rounds_it_can_trigger(rig: Rig) -> None:
    await open_round(rig)
    await rig.tick()  # the entry fills' order events step it once more
    assert rig.engine is not None
    stepped: list[int] = []
    step = rig.engine.step

    async def counting(round_id: int, poll_due: bool = False) -> None:
        stepped.append(round_id)
        await step(round_id, poll_due)

    rig.engine.step = counting  # type: ignore[method-assign]
    rig.engine._last_poll = float("inf")  # keep the slow timer out of this
    await rig.move("100.3")  # nowhere near either stop
    assert stepped == []
    await rig.move("100.9")  # the short's stop
    assert stepped == [1]
    assert rig.state() == "LIMIT_SET"


async def test_round_logs_carry_the_round_venue_and_client_order_id(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The fields journald indexes (ROUND_ID, VENUE, CLIENT_ORDER_ID, ROUND_STATE)."""
    caplog.set_level("INFO")
    await open_round(rig)
    rig.venues[ASTER].faults.arm("place", "reject", times=1)
    await rig.move("100.9")  # the short's stop, refused once
    transitions = [r for r in caplog.records if "-> MONITORING" in r.getMessage()]
    assert [(r.round_id, r.state) for r in transitions] == [(1, "MONITORING")]  # type: ignore[attr-defined]
    stop = next(r for r in caplog.records if "stop-loss on" in r.getMessage())
    assert (stop.round_id, stop.state) == (1, "MONITORING")  # type: ignore[attr-defined]
    refused = next(r for r in caplog.records if "rejected STOP" in r.getMessage())
    assert (refused.round_id, refused.venue) == (1, ASTER)  # type: ignore[attr-defined]
    assert refused.client_id == rig.store.orders_of(1)[-1].client_id  # type: ignore[attr-defined]


async def test_take_profit_filled_unseen_is_found_by_the_batched_timer_poll(rig: Rig) -> None:
    """Both streams silent (no price, no order event): the slow timer's one open-orders read
    per venue notices the take-profit has gone and steps that round to look it up."""
    await open_round(rig)
    await rig.move("100.9")
    await rig.until("LIMIT_SET")
    assert rig.engine is not None
    for stream in rig.engine._streams:
        stream.cancel()
    rig.world.set_price(D("101.5"))  # the take-profit fills; the engine hears nothing of it
    await asyncio.sleep(0.1)  # past the rig's 0.05-s poll interval
    r = await rig.until("DONE")
    assert r.reason == "take-profit on backpack"
    await rig.check_invariants()


async def test_a_steps_legs_and_live_orders_follow_an_order_changed_meanwhile(rig: Rig) -> None:
    """A step derives its legs, its live orders and its orders of a purpose once, not on
    every access: an order recorded while it runs (the order stream's fill, a cancel read
    back) changes them all the same, as the row changes in place, without the step
    reloading its orders; so does an order that a reload brings."""
    await open_round(rig)
    engine = rig.engine
    assert engine is not None
    r = rig.round()
    assert r.id is not None
    pair = engine.pairs.of(r)
    ctx = RoundContext(
        r,
        rig.store.orders_of(r.id),
        pair.strategy,
        pair.rules,
        engine.prices,
        engine.desk,
        rig.store,
        engine.funding,
        utcnow(),
    )
    entry = ctx.of(ENTRY, ASTER)[0]
    backstop = ctx.live(BACKSTOP, ASTER)[0]
    assert ctx.legs[ASTER].qty == r.qty
    assert entry.id is not None and backstop.id is not None

    rig.store.record_order(entry.id, "order_state", filled_qty=r.qty + D("0.01"))
    rig.store.record_order(backstop.id, "order_state", status="CANCELED")

    assert ctx.legs[ASTER].qty == r.qty + D("0.01")
    assert ctx.legs == legs_of(ctx.round, ctx.orders)
    assert ctx.live(BACKSTOP, ASTER) == []
    assert backstop not in ctx.live()
    assert ctx.of(BACKSTOP, ASTER) == [backstop]

    fields = ("round_id", "venue", "symbol", "purpose", "side", "type", "qty", "trigger_price")
    [again] = rig.store.add_intents(
        [new_order(**{f: getattr(backstop, f) for f in fields})],
        {v: rig.venues[v].client_id for v in VENUES},
    )
    assert ctx.of(BACKSTOP, ASTER) == [backstop]  # not reloaded: the orders it was given
    ctx.reload()
    assert [o.id for o in ctx.of(BACKSTOP, ASTER)] == [backstop.id, again.id]
    assert [o.id for o in ctx.live(BACKSTOP, ASTER)] == [again.id]


async def test_todays_pnl_adds_each_round_done_without_reading_todays_rounds_again(
    tmp_path: Path,
) -> None:
    """A daemon making volume ends thousands of rounds a day: each round's end adds its PnL
    to today's, which is read from the store once (at start, or when the day turns)."""
    rig = Rig(tmp_path, mode="continuous")
    engine = await rig.start()
    reads: list[object] = []
    read = rig.store.realized_since

    def counted(*args: Any) -> Decimal:
        reads.append(args)
        return read(*args)

    setattr(rig.store, "realized_since", counted)  # noqa: B010 (mypy refuses assigning a method)
    try:
        for round_id in (1, 2):
            await rig.tick()
            await rig.until("MONITORING", round_id)
            rig.store.add_command("close", round_id)
            await rig.until("DONE", round_id)
        first, second = (rig.round(i).realized_pnl for i in (1, 2))
        assert first is not None and second is not None
        assert engine.realized_today() == first + second
        assert engine.realized_today() == rig.store.realized_since(utc_day_start())
    finally:
        await rig.stop()
    assert len(reads) == 1  # the check above: the engine read today's at start, before this
