"""Funding-aware entries through the real engine on the simulators, whose funding rates the
tests set: `direction = "auto"` puts each round's short where the hedge earns the more per
hour (both signs of the difference, in process and over the wire through the admin API),
and `avoid_funding_seconds` holds a round back before a settlement that would cost the hedge,
saying why where `hedgectl status` shows it, then opens it after the settlement."""

from __future__ import annotations

import asyncio
import io
import json
import time
from contextlib import redirect_stdout
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from roundkit import ASTER, BACKPACK, D, Rig, make_config
from test_fault_matrix import ACCOUNT, HttpRig

from hedged import ctl, funding
from hedged.carry import choose
from hedged.engine import Engine
from hedged.entries import FOLLOWS, Entries
from hedged.sim.funding import FundingPlan, FundingSchedule
from hedged.sim.world import World
from hedged.store import utcnow

# (Aster's rate per 8 h, Backpack's per hour) -> where the short goes
CASES = [
    pytest.param("0.0004", "0.00001", ASTER, id="aster-pays-more-per-hour"),
    pytest.param("0.0001", "0.00002", BACKPACK, id="backpack-pays-more-per-hour"),
]


def fund(world: World, rates: dict[str, tuple[str, str]]) -> None:
    """Give each venue a schedule: (interval in hours, rate per interval)."""
    for venue, (hours, rate) in rates.items():
        world.funding[venue] = FundingSchedule(FundingPlan(D(hours), D(rate)), time.time)


def hedgectl(*argv: str) -> Any:
    """`hedgectl ARGV --json` in this process, its output read."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert ctl.main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


def direction_event(rig_store: Any, round_id: int = 1) -> dict[str, Any]:
    (event,) = [e for e in rig_store.events_of(round_id) if e.kind == "direction"]
    detail: dict[str, Any] = json.loads(event.detail)
    return detail


@pytest.mark.parametrize(("aster_rate", "backpack_rate", "short"), CASES)
async def test_auto_puts_the_short_where_the_hedge_earns_the_more(
    tmp_path: Path, aster_rate: str, backpack_rate: str, short: str
) -> None:
    rig = Rig(tmp_path, mode="single", direction="auto")
    fund(rig.world, {ASTER: ("8", aster_rate), BACKPACK: ("1", backpack_rate)})
    await rig.start()
    try:
        await rig.tick()
        r = await rig.until("MONITORING")
        assert r.short_venue == short
        assert await rig.position(short) == -(r.qty or 0)
        why = direction_event(rig.store)
        per_hour = {ASTER: D(aster_rate) / 8, BACKPACK: D(backpack_rate)}
        assert {v: D(x) for v, x in why["rate_per_hour"].items()} == per_hour
        long = BACKPACK if short == ASTER else ASTER
        assert (why["short"], why["long"]) == (short, long)
        assert D(why["carry_per_hour"]) == per_hour[short] - per_hour[long] > 0
        texts = [e["text"] for e in hedgectl("show", "1", "--db", rig.url)["timeline"]]
        assert f"round created (OPENING), short on {short}" in texts
        assert any(t.startswith(f"short on {short}, long on {long}, by funding") for t in texts)
        await rig.move("100.9")  # the short stops out, the long takes its profit
        await rig.until("LIMIT_SET")
        await rig.move("101.5")
        r = await rig.until("DONE")
        assert r.reason == f"take-profit on {long}"
        await rig.check_invariants()
    finally:
        await rig.stop()


@pytest.mark.parametrize(("aster_rate", "backpack_rate", "short"), CASES)
async def test_over_the_wire_auto_follows_the_rates_set_at_the_simulators(
    tmp_path: Path, aster_rate: str, backpack_rate: str, short: str
) -> None:
    """The real clients read each venue's funding (Aster premiumIndex and fundingInfo,
    Backpack markPrices) after the rates were set through the simulators' admin API."""
    rig = HttpRig(tmp_path)
    rig.config = make_config(mode="single", direction="auto")
    await rig.servers.start()
    try:
        async with aiohttp.ClientSession() as s:
            for venue, rate in ((ASTER, aster_rate), (BACKPACK, backpack_rate)):
                url = rig.servers.url(venue) + "/_admin/funding"
                async with s.post(url, json={"rate": rate}) as answer:
                    assert answer.status == 200, await answer.text()
        rig.engine = Engine(rig.config, rig.store, rig.clients())
        await rig.engine.start()  # it reads the venues' funding once the store agrees
        await rig.until("MONITORING")
        r = rig.store.get_round(1)
        assert r is not None and r.short_venue == short
        position = rig.world.venues[short].position(ACCOUNT, rig.world.symbols[short]).qty
        assert position == -(r.qty or 0)
        assert direction_event(rig.store)["short"] == short
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
        await rig.move("101.5")
        await rig.until("DONE")
        await rig.check_invariants()
    finally:
        await rig.stop()


INTERVAL_HOURS = Decimal("0.001")  # Backpack settles every 3.6 s
WINDOW = 3  # avoid_funding_seconds


async def test_avoid_funding_seconds_holds_the_round_until_after_the_settlement(
    tmp_path: Path,
) -> None:
    """Short on Aster (the default), Backpack's rate positive: the long pays at Backpack's
    settlement. Within WINDOW seconds of it no round opens, with the reason hedgectl shows;
    once it has passed, the round opens."""
    rig = Rig(tmp_path, mode="single", avoid_funding_seconds=WINDOW)
    fund(rig.world, {BACKPACK: (str(INTERVAL_HOURS), "0.0001")})
    interval = float(INTERVAL_HOURS) * 3600
    # start inside the window, WINDOW - 0.5 seconds before a boundary
    left = interval - time.time() % interval
    await asyncio.sleep((left - (WINDOW - 0.5)) % interval)
    await rig.start()
    try:
        await rig.tick(2)  # the funding is read, then the opening decided on it
        assert rig.store.get_round(1) is None
        settles = (
            next(iter(rig.engine.entries.values())).funding()[BACKPACK].next_at
            if rig.engine
            else None
        )
        assert settles is not None
        why = hedgectl("status", "--db", rig.url)["daemon"]["not_opening"]
        assert why.startswith("funding on backpack at ") and "opening after it" in why
        for _ in range(200):  # bounded: the settlement is at most WINDOW seconds away
            if rig.store.get_round(1) is not None:
                break
            await rig.tick()
            await asyncio.sleep(0.05)
        r = await rig.until("MONITORING")
        assert r.created_at >= settles  # opened after the settlement, not before
        assert utcnow() >= settles
        assert r.short_venue == ASTER
    finally:
        await rig.stop()


async def test_no_round_opens_before_both_venues_funding_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With "auto", a venue failing its funding read holds the opening back, with the reason
    hedgectl shows; once the read is tried again and succeeds, the round opens."""
    monkeypatch.setattr(funding, "RETRY_AFTER", timedelta(0))
    rig = Rig(tmp_path, mode="single", direction="auto")
    fund(rig.world, {ASTER: ("8", "0.0001"), BACKPACK: ("1", "0.00002")})
    rig.venues[BACKPACK].faults.arm("funding_info", "error_5xx", times=2)
    await rig.start()
    try:
        await rig.tick()
        assert rig.store.get_round(1) is None
        assert rig.store.get_meta("not_opening") == "no funding rate from backpack yet"
        assert "cannot read the venues' funding" in caplog.text
        r = await rig.until("MONITORING")
        assert r.short_venue == BACKPACK
    finally:
        await rig.stop()


async def test_the_simulators_funding_control_checks_its_input(tmp_path: Path) -> None:
    rig = HttpRig(tmp_path)
    await rig.servers.start()
    try:
        async with aiohttp.ClientSession() as s:
            url = rig.servers.url(BACKPACK) + "/_admin/funding"
            for bad in ({"rate": "abc"}, {"rate": "NaN"}, {}):
                async with s.post(url, json=bad) as answer:
                    assert answer.status == 400, bad
            async with s.post(url, json={"rate": "-0.0002"}) as answer:
                assert await answer.json() == {"symbol": "SOL_USDC_PERP", "rate": "-0.0002"}
            async with s.get(rig.servers.url(BACKPACK) + "/api/v1/markPrices") as answer:
                (mark,) = await answer.json()
                assert D(mark["fundingRate"]) == D("-0.0002")
            async with s.post(url, json={"rate": None}) as answer:
                assert answer.status == 200 and (await answer.json())["rate"] != "-0.0002"
    finally:
        await rig.servers.stop()
        rig.store.close()


async def test_a_round_opened_beside_open_ones_faces_their_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent rounds share one position per venue and exit reduce-only: the second
    round faces the first's way although the funding has turned, says so in its journal,
    and both end DONE with the invariants holding."""
    monkeypatch.setattr(funding, "INFO_EVERY", timedelta(0))  # the rates read every pass
    rig = Rig(
        tmp_path,
        mode="continuous",
        direction="auto",
        max_rounds=2,
        max_concurrent_rounds=2,
        backstop_stop="0",
    )
    fund(rig.world, {ASTER: ("8", "0.0001"), BACKPACK: ("1", "0.00002")})
    rig.store.set_meta("paused", "1")  # one round at a time until the rates turn
    await rig.start()
    assert rig.engine is not None
    try:
        rig.engine.pause(False)
        for _ in range(200):  # one pass opens at most one round: pause again once it has
            if rig.store.get_round(1) is not None:
                break
            await rig.tick()
            await asyncio.sleep(0.01)
        rig.engine.pause(True)
        first = await rig.until("MONITORING", 1)
        assert first.short_venue == BACKPACK
        rig.world.funding[ASTER].fix(rig.world.symbols[ASTER], D("0.004"))  # now Aster's
        for _ in range(200):  # bounded: the collector reads the rates on its next timer pass
            if carry_short(rig) == ASTER:  # what the funding alone would say now
                break
            await rig.tick()
            await asyncio.sleep(0.01)
        assert carry_short(rig) == ASTER
        assert rig.store.get_round(2) is None
        rig.engine.pause(False)
        second = await rig.until("MONITORING", 2)
        assert second.short_venue == BACKPACK
        assert direction_event(rig.store, 2)["follows"].startswith("the open rounds")
        await rig.move("100.9")  # both shorts stop out
        await rig.until("LIMIT_SET", 2)
        await rig.move("101.5")  # both longs take their profit
        for r in (1, 2):
            assert (await rig.until("DONE", r)).reason == "take-profit on aster"
        await rig.check_invariants()
    finally:
        await rig.stop()


def carry_short(rig: Rig) -> str:
    assert rig.engine is not None
    return choose(next(iter(rig.engine.entries.values())).funding()).short


def test_rounds_open_both_ways_keep_any_more_from_opening() -> None:
    """Rounds left facing both ways (from before a configuration change) share one position
    per venue with their exits reduce-only: no round is added to either side."""
    both = Entries(make_config().strategy, dict, lambda: {ASTER, BACKPACK})
    assert both.why_not_open(utcnow()) == (
        "open rounds face both ways (one position per venue): none opens until one ends"
    )
    aster = Entries(make_config(direction="backpack_short").strategy, dict, lambda: [ASTER])
    assert aster.why_not_open(utcnow()) is None
    assert aster.direction() == (ASTER, {"long": BACKPACK, "follows": FOLLOWS})
