"""Funding reads of both venue clients against the wire-compatible simulators on 127.0.0.1
(real HTTP, real signatures), and of the in-process simulated venue: payments with the
venue's ids and amounts, from a given time on, across pages; the next settlement's rate,
interval and time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from test_client_aster_sim import SYMBOL as ASTER_SYMBOL
from test_client_aster_sim import market as aster_market
from test_client_aster_sim import open_sim
from test_client_backpack_sim import SYMBOL as BACKPACK_SYMBOL
from test_client_backpack_sim import market as backpack_market
from test_client_backpack_sim import simulated

from hedged import config
from hedged.adapters.aster import client as aster_client
from hedged.adapters.backpack import client as backpack_client
from hedged.adapters.base import Accepted
from hedged.model import FundingInfo, FundingPayment, Side
from hedged.sim.aster.private import FUNDING_TRAN
from hedged.sim.funding import FundingPlan, FundingSchedule
from hedged.sim.venue import SimVenue
from hedged.sim.world import default_world
from hedged.venues import paper_venues

D = Decimal
HOUR = 3600.0


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize("auth", ["v1", "v3"])
async def test_aster_payments_are_the_income_history_with_tran_ids(
    auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aster_client, "INCOME_PAGE", 2)  # five payments: three pages...
    monkeypatch.setattr(aster_client, "INCOME_WINDOW_MS", 2 * 3_600_000)  # ...over windows
    async with open_sim(auth) as sim:  # type: ignore[arg-type]
        assert isinstance(await sim.venue.place(aster_market(1, Side.SELL, "1.5")), Accepted)
        exchange = sim.world.venues["aster"]
        start = sim.clock.now
        rates = [D("0.0001"), D("-0.00025"), D("0.00003"), D("0.0001"), D("0.00007")]
        settled = []
        for i, rate in enumerate(rates):
            sim.clock.now = start + (i + 1) * HOUR
            settled += exchange.settle_funding(ASTER_SYMBOL, rate)
        assert len(settled) == 5
        sim.clock.now += 0.5 * HOUR
        paid = await sim.venue.funding_payments(ASTER_SYMBOL, moment(start))
        assert paid == [
            FundingPayment(
                "aster", str(FUNDING_TRAN + p.payment_id), ASTER_SYMBOL, p.amount, moment(p.at)
            )
            for p in settled
        ]
        assert paid[0].amount == D("1.5") * D(150) * D("0.0001")  # the short receives
        assert paid[1].amount < 0
        later = await sim.venue.funding_payments(ASTER_SYMBOL, moment(start + 3 * HOUR))
        assert later == paid[2:]
        assert await sim.venue.funding_payments(ASTER_SYMBOL, moment(start + 9 * HOUR)) == []


async def test_aster_funding_info_reads_premium_index_and_the_interval() -> None:
    async with open_sim() as sim:
        # no schedule: the venue's own 8 h interval, a zero rate, the next 8 h boundary
        info = await sim.venue.funding_info(ASTER_SYMBOL)
        boundary = (sim.clock.now // (8 * HOUR) + 1) * 8 * HOUR
        assert info == FundingInfo(ASTER_SYMBOL, D(0), D(8), moment(boundary), D(150))
        plan = FundingPlan(D("0.01"), D("0.00012"))  # the tests' short interval: 36 s
        sim.world.funding["aster"] = FundingSchedule(plan, sim.clock)
        info = await sim.venue.funding_info(ASTER_SYMBOL)
        assert (info.rate, info.interval_hours) == (D("0.00012"), D("0.01"))
        assert info.next_at == moment((sim.clock.now // 36 + 1) * 36)


async def test_backpack_payments_are_the_funding_history_with_built_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backpack_client, "PAGE", 2)  # five payments: read back over pages
    async with simulated() as sim:
        assert isinstance(await sim.venue.place(backpack_market("7", Side.BUY, "2")), Accepted)
        exchange = sim.world.venues["backpack"]
        start = (datetime.now(UTC).timestamp() // HOUR) * HOUR  # on whole hours, as the venue
        rates = [D("0.0000125"), D("-0.00001"), D("0.00002"), D("0.0000125"), D("0.000001")]
        settled = []
        for i, rate in enumerate(rates):
            settled += exchange.settle_funding(BACKPACK_SYMBOL, rate, start + (i + 1) * HOUR)
        paid = await sim.venue.funding_payments(BACKPACK_SYMBOL, moment(start))
        assert paid == [
            FundingPayment(
                "backpack",
                f"{BACKPACK_SYMBOL}@{int(p.at * 1000)}",
                BACKPACK_SYMBOL,
                p.amount,
                moment(p.at),
            )
            for p in settled
        ]
        assert paid[0].amount == -D(2) * D(150) * D("0.0000125")  # the long pays
        # the newest pages are read first; an older `since` stops at the history's end
        later = await sim.venue.funding_payments(BACKPACK_SYMBOL, moment(start + 4 * HOUR))
        assert later == paid[3:]
        again = await sim.venue.funding_payments(BACKPACK_SYMBOL, moment(start))
        assert [p.payment_id for p in again] == [p.payment_id for p in paid]  # stable ids


async def test_backpack_funding_info_reads_mark_prices_and_the_market_interval() -> None:
    async with simulated() as sim:
        info = await sim.venue.funding_info(BACKPACK_SYMBOL)
        assert (info.symbol, info.rate, info.interval_hours) == (BACKPACK_SYMBOL, D(0), D(1))
        assert info.next_at.minute == info.next_at.second == 0
        assert info.mark_price == D(150)
        plan = FundingPlan(D("0.01"), D("0.0000125"))
        sim.world.funding["backpack"] = FundingSchedule(plan, sim.clock)
        info = await sim.venue.funding_info(BACKPACK_SYMBOL)
        assert (info.rate, info.interval_hours) == (D("0.0000125"), D("0.01"))


async def test_the_in_process_venue_reads_the_exchange_records() -> None:
    now = [1_750_000_000.0]
    world = default_world(clock=lambda: now[0])
    world.venues["backpack"].deposit("bob", D(10_000))
    venue = SimVenue(world, "backpack", "bob")
    placed = await venue.place(backpack_market("1", Side.BUY, "1"))
    assert isinstance(placed, Accepted)
    [p] = world.venues["backpack"].settle_funding(BACKPACK_SYMBOL, D("0.0001"), now[0] + 10)
    assert await venue.funding_payments(BACKPACK_SYMBOL, moment(now[0])) == [
        FundingPayment("backpack", str(p.payment_id), BACKPACK_SYMBOL, D("-0.015"), moment(p.at))
    ]
    assert await venue.funding_payments(BACKPACK_SYMBOL, moment(now[0] + 11)) == []
    world.funding["backpack"] = FundingSchedule(FundingPlan(D(1), D("0.00002")), lambda: now[0])
    info = await venue.funding_info(BACKPACK_SYMBOL)
    assert info == FundingInfo(
        BACKPACK_SYMBOL, D("0.00002"), D(1), moment((now[0] // HOUR + 1) * HOUR), D(150)
    )


async def test_paper_venues_settle_funding_that_the_clients_read(tmp_path: Path) -> None:
    """Paper mode: the simulators settle funding (here every ~1 s, `paper.funding_hours`)
    and the real clients read it back, as the daemon does."""
    cfg = config.load(
        None,
        overrides={
            "paper.funding_hours": "0.0003",
            "daemon.state_dir": str(tmp_path),
            "store.url": f"sqlite:///{tmp_path / 'paper.db'}",
        },
    )
    async with paper_venues(cfg) as venues:
        for venue in venues.values():
            await venue.start()
        since = datetime.now(UTC)
        backpack = venues["backpack"]
        symbol = cfg.pair.backpack_symbol
        # the next settlement read before the position opens: the first payment is at or after it
        info = await backpack.funding_info(symbol)
        assert info.interval_hours == D("0.0003")
        bought = await backpack.place(backpack_market("9", Side.BUY, "1"))
        assert isinstance(bought, Accepted)
        deadline = time.monotonic() + 30
        paid: list[FundingPayment] = []
        while not paid:
            assert time.monotonic() < deadline, "no funding settled in paper mode"
            await asyncio.sleep(0.2)
            paid = await backpack.funding_payments(symbol, since)
        assert paid[0].symbol == symbol and paid[0].at >= info.next_at
