"""What the volume cost, as `hedgectl history` and `show` report it (table, `--json`, `--csv`),
checked to the last digit against the simulated venues' own records: their fills (price,
quantity, fee, maker or taker) of each order the store holds, and the price each order was
decided on."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from roundkit import ASTER, BACKPACK, D, Rig
from test_ctl import run_ctl

from hedged.costs import slippage
from hedged.legs import VENUES
from hedged.model import FundingShare
from hedged.sim.faults import FaultKind
from hedged.store import FillRow, OrderRow, RoundRow, Store, utc_day_start

ZERO = D(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Round 1: the short is stopped out while the price runs on (its close fills above the price
# it was decided on), the long's take-profit fills as a maker. Round 2: both venues settle
# funding while it is open (the short receives on Aster, the long pays on Backpack), then the
# long is stopped out and the short's take-profit fills. Round 3 stays open.
RUN_ON, FALL, OPEN = 1, 2, 3
RATES = {ASTER: D("0.0001"), BACKPACK: D("0.00005")}


@dataclass
class Expected:
    """One round's costs as the venues recorded them."""

    volume: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(VENUES, ZERO))
    maker_fees: Decimal = ZERO
    taker_fees: Decimal = ZERO
    slippage: Decimal = ZERO
    cash: Decimal = ZERO  # sells less buys
    funding: Decimal = ZERO  # the venues' payments on the round's legs: + received, - paid
    # What the round booked: the fills after fees and the funding (see booked()).
    realized_pnl: Decimal = ZERO

    @property
    def fees(self) -> Decimal:
        return self.maker_fees + self.taker_fees

    def booked(self, stored: Decimal | None) -> Expected:
        """With the round's stored PnL, which must be the venues' fills after fees, plus the
        funding, to the last digit."""
        assert stored == self.cash - self.fees + self.funding, stored
        self.realized_pnl = stored
        return self

    @property
    def cost_per_10k(self) -> Decimal:
        volume = sum(self.volume.values(), ZERO)
        return (-self.realized_pnl * 10_000 / volume).quantize(D("0.0001"))

    def __add__(self, other: Expected) -> Expected:
        return Expected(
            {v: self.volume[v] + other.volume[v] for v in VENUES},
            self.maker_fees + other.maker_fees,
            self.taker_fees + other.taker_fees,
            self.slippage + other.slippage,
            self.cash + other.cash,
            self.funding + other.funding,
            self.realized_pnl + other.realized_pnl,
        )


def expected_costs(
    store: Store, states: Mapping[str, Mapping[str, Any]], round_id: int, funded: bool
) -> Expected:
    """From the simulators' fills of the round's orders (found by client id), each order's
    decision price, and (`funded`: the one round open while they settled) their payments."""
    payments = [p for v in VENUES for p in states[v]["funding_payments"] if p["account"] == "test"]
    e = Expected(funding=sum((D(p["amount"]) for p in payments), ZERO) if funded else ZERO)
    for o in store.orders_of(round_id):
        fills = [
            f
            for f in states[o.venue]["fills"]
            if f["client_id"] == o.client_id and f["account"] == "test"
        ]
        for f in fills:
            qty, price, fee = D(f["qty"]), D(f["price"]), D(f["fee"])
            sign = 1 if f["side"] == "BUY" else -1
            e.volume[o.venue] += qty * price
            if f["maker"]:
                e.maker_fees += fee
            else:
                e.taker_fees += fee
            e.cash -= sign * qty * price
            if o.decision_price is not None:
                e.slippage += (price - o.decision_price) * qty * sign
    return e


def costs_of_json(data: Mapping[str, Any]) -> dict[str, Any]:
    keys = ["maker_fees", "taker_fees", "fees", "slippage", "funding", "realized_pnl"]
    keys.append("cost_per_10k")
    return {k: D(data[k]) for k in keys} | {"volume": {v: D(n) for v, n in data["volume"].items()}}


def as_expected(e: Expected) -> dict[str, Any]:
    return {
        "maker_fees": e.maker_fees,
        "taker_fees": e.taker_fees,
        "fees": e.fees,
        "slippage": e.slippage,
        "funding": e.funding,
        "realized_pnl": e.realized_pnl,
        "cost_per_10k": e.cost_per_10k,
        "volume": e.volume,
    }


async def stop_while_the_price_runs_on(rig: Rig, trigger: str, then: str) -> None:
    """The stop is decided at `trigger`; its market order reaches the venue once the price
    has moved on to `then` (the venue answers late), so it fills beyond its decision price."""
    rig.venues[ASTER].faults.arm("place", FaultKind.LATENCY, seconds=0.3)

    async def run_on() -> None:
        await asyncio.sleep(0.1)
        rig.world.set_price(D(then))

    mover = asyncio.create_task(run_on())
    await rig.move(trigger)
    await mover


async def build(rig: Rig) -> None:
    await rig.start()
    await rig.tick()
    await rig.until("MONITORING", RUN_ON)
    await stop_while_the_price_runs_on(rig, "100.9", "101.05")
    await rig.until("LIMIT_SET", RUN_ON)
    await rig.move("101.6")
    await rig.until("DONE", RUN_ON)
    await rig.until("MONITORING", FALL)
    await settle_funding(rig)
    await rig.move("100.7")
    await rig.until("LIMIT_SET", FALL)
    rig.store.set_meta("paused", "1")
    await rig.move("100.2")
    await rig.until("DONE", FALL)
    await collect_funding(rig, FALL)
    rig.store.set_meta("paused", "0")
    await rig.until("MONITORING", OPEN)
    rig.store.set_meta("paused", "1")
    await rig.tick()
    await rig.check_invariants()


async def settle_funding(rig: Rig) -> None:
    for venue, rate in RATES.items():
        payments = rig.world.venues[venue].settle_funding(rig.world.symbols[venue], rate)
        assert [p.account for p in payments] == ["test"]


async def collect_funding(rig: Rig, round_id: int) -> None:
    """Record the round's funding from the venues' funding history, as the daemon's collector
    does (the store skips what it already holds, by venue and payment id)."""
    entered = rig.round(round_id).qty
    assert entered is not None
    for venue in VENUES:
        history = await rig.venues[venue].funding_payments(rig.world.symbols[venue], EPOCH)
        rig.store.add_funding(round_id, [FundingShare(p, p.amount, entered) for p in history])


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # tables as wide as they need, uncut


@dataclass(frozen=True)
class Built:
    url: str
    expected: dict[int, Expected]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    path = tmp_path_factory.mktemp("history")
    rig = Rig(path, mode="continuous", max_concurrent_rounds=1)

    async def go() -> dict[int, Expected]:
        try:
            await build(rig)
            states = {v: rig.world.venues[v].to_dict() for v in VENUES}
            return {
                i: expected_costs(rig.store, states, i, i == FALL).booked(rig.round(i).realized_pnl)
                for i in (RUN_ON, FALL)
            }
        finally:
            await rig.stop()

    expected = asyncio.run(go())
    return Built(f"sqlite:///{path / 'hedged.db'}", expected)


@pytest.fixture
def db(built: Built, tmp_path: Path) -> str:
    copy = tmp_path / "copy.db"
    with sqlite3.connect(built.url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return f"sqlite:///{copy}"


def test_the_scenario_has_every_kind_of_cost(built: Built) -> None:
    run_on = built.expected[RUN_ON]
    assert run_on.maker_fees > 0 and run_on.taker_fees > 0  # a maker take-profit, taker rest
    assert run_on.slippage > 0  # the stop filled beyond the price it was decided on
    assert built.expected[FALL].funding != 0 and run_on.funding == 0
    assert run_on.realized_pnl == run_on.cash - run_on.fees
    assert all(n > 0 for e in built.expected.values() for n in e.volume.values())


def test_history_json_is_the_venues_figures_per_round_and_per_day(built: Built, db: str) -> None:
    h = run_ctl("history", "--json", "--db", db).json()
    (day,) = h["days"]
    rounds = {r["id"]: r for r in day["rounds"]}
    assert list(rounds) == [RUN_ON, FALL]
    for i, e in built.expected.items():
        assert costs_of_json(rounds[i]) == as_expected(e), i
        assert D(rounds[i]["total_volume"]) == sum(e.volume.values(), ZERO)
    both = built.expected[RUN_ON] + built.expected[FALL]
    assert costs_of_json(day["totals"]) == as_expected(both)
    assert day["totals"] == h["total"]
    assert h["total"]["rounds"] == 2  # not the open round


def test_history_csv_per_round_and_per_day(built: Built, db: str) -> None:
    out = run_ctl("history", "--csv", "--db", db)
    assert out.code == 0 and out.err == ""
    assert "\r\n" in out.out  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(out.out, newline="")))
    assert [int(r["id"]) for r in rows] == [RUN_ON, FALL]
    for row in rows:
        e = built.expected[int(row["id"])]
        for v in VENUES:
            assert D(row[f"volume_{v}"]) == e.volume[v]
        assert D(row["maker_fees"]) == e.maker_fees and D(row["taker_fees"]) == e.taker_fees
        assert D(row["slippage"]) == e.slippage and D(row["funding"]) == e.funding
        assert D(row["realized_pnl"]) == e.realized_pnl
        assert D(row["cost_per_10k"]) == e.cost_per_10k
        amounts = [v for k, v in row.items() if k not in ("day", "pair", "reason", "ended_at")]
        assert "E" not in "".join(amounts)  # plain digits, never exponent notation
    header = out.out.split("\r\n", 1)[0].split(",")
    assert header[:6] == ["day", "id", "pair", "reason", "ended_at", "duration_seconds"]
    assert "reason" in header and rows[0]["pair"] == "SOLUSDT/SOL_USDC_PERP"

    by_day = run_ctl("history", "--csv", "--by-day", "--db", db).out
    (day,) = list(csv.DictReader(io.StringIO(by_day)))
    both = built.expected[RUN_ON] + built.expected[FALL]
    wins = sum(e.realized_pnl > 0 for e in built.expected.values())
    assert (day["rounds"], day["wins"]) == ("2", str(wins))
    assert D(day["realized_pnl"]) == both.realized_pnl
    assert D(day["cost_per_10k"]) == both.cost_per_10k
    assert D(day["fees"]) == both.fees and D(day["slippage"]) == both.slippage


def test_history_table_shows_the_costs(built: Built, db: str) -> None:
    out = run_ctl("history", "--db", db)
    assert out.code == 0
    for heading in ("MAKER FEES", "TAKER FEES", "FUNDING", "SLIPPAGE", "COST/10K", "VOL aster"):
        assert heading in out.out
    both = built.expected[RUN_ON] + built.expected[FALL]
    assert str(both.cost_per_10k.quantize(D("0.01"))) in out.out
    by_day = run_ctl("history", "--by-day", "--db", db).out
    assert "2 rounds" in by_day and str(both.cost_per_10k.quantize(D("0.01"))) in by_day
    assert "take-profit" not in by_day  # no round rows (their reasons), only the day's


def test_show_breaks_down_the_costs_and_each_orders_slippage(built: Built, db: str) -> None:
    r = run_ctl("show", str(RUN_ON), "--json", "--db", db).json()
    e = built.expected[RUN_ON]
    assert costs_of_json(r["costs"]) == as_expected(e)
    slipped = [o for o in r["orders"] if D(o["slippage"] or 0) != 0]
    assert slipped and all(o["decision_price"] is not None for o in r["orders"])
    assert sum((D(o["slippage"]) for o in r["orders"]), ZERO) == e.slippage
    (stop,) = [o for o in r["orders"] if o["purpose"] == "STOP"]
    assert D(stop["avg_price"]) > D(stop["decision_price"])  # bought back above the decision
    human = run_ctl("show", str(RUN_ON), "--db", db).out
    for needle in ("what the volume cost", "DECIDED AT", "AVG FILL", "SLIPPAGE", "COST/10K"):
        assert needle in human
    assert str(e.cost_per_10k.quantize(D("0.01"))) in human
    funded = run_ctl("show", str(FALL), "--json", "--db", db).json()
    assert D(funded["costs"]["funding"]) == built.expected[FALL].funding
    entries = [t for t in funded["timeline"] if t["kind"] == "funding"]  # one per payment
    assert sum((D(t["detail"]["amount"]) for t in entries), ZERO) == built.expected[FALL].funding
    assert len(entries) == 2 and all(t["detail"]["amount"] in t["text"] for t in entries)


def test_show_of_an_open_round_gives_its_costs_so_far(db: str) -> None:
    r = run_ctl("show", str(OPEN), "--json", "--db", db).json()
    assert r["state"] == "MONITORING"
    costs = r["costs"]
    assert costs["realized_pnl"] is None and costs["cost_per_10k"] is None  # not finished
    assert all(D(n) > 0 for n in costs["volume"].values()) and D(costs["taker_fees"]) > 0
    human = run_ctl("show", str(OPEN), "--db", db).out
    assert "what the volume cost so far" in human


def test_json_and_csv_together_is_a_usage_error(db: str) -> None:
    both = run_ctl("history", "--json", "--csv", "--db", db)
    assert both.code == 2 and "--csv" in both.err


def test_chinese_history_and_show(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    history = run_ctl("history", "--db", db).out
    show = run_ctl("show", str(RUN_ON), "--db", db).out
    for word in ("资金费", "滑点", "挂单手续费", "吃单手续费"):
        assert word in history and word in show, word
    # the CSV's header stays English for the tools that read it
    assert run_ctl("history", "--csv", "--db", db).out.startswith("day,id,pair")


def test_no_finished_rounds_gives_the_header_alone(tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    Store(fresh).close()
    rounds = run_ctl("history", "--csv", "--db", fresh)
    days = run_ctl("history", "--csv", "--by-day", "--db", fresh)
    assert rounds.code == days.code == 0
    assert rounds.out.startswith("day,id,pair,reason,ended_at,duration_seconds,volume_aster,")
    assert days.out.startswith("day,rounds,wins,win_rate,volume_aster,volume_backpack,")
    assert rounds.out.endswith(",cost_per_10k\r\n") and rounds.out.count("\r\n") == 1
    assert days.out.endswith(",cost_per_10k\r\n") and days.out.count("\r\n") == 1


def test_finished_costs_reads_the_done_rounds_since_a_day_on_both_backends(store: Store) -> None:
    """The rows history computes its costs from: fills, and orders that filled, of the DONE
    rounds ended since the day asked for; exact Decimals (stored as text) on either database."""
    today, earlier = utc_day_start(), utc_day_start() - timedelta(days=3)
    with store.session() as s:
        for rid, state, ended in (
            (1, "DONE", earlier),
            (2, "DONE", today),
            (3, "MONITORING", None),
        ):
            s.add(
                RoundRow(
                    id=rid, state=state, aster_symbol="SOLUSDT", backpack_symbol="X", ended_at=ended
                )
            )
        s.commit()
        for rid in (1, 2, 3):
            for oid, filled in ((rid * 10, True), (rid * 10 + 1, False)):
                s.add(
                    OrderRow(
                        id=oid,
                        round_id=rid,
                        venue=ASTER,
                        symbol="SOLUSDT",
                        purpose="ENTRY",
                        side="SELL",
                        type="MARKET",
                        qty=D("0.25"),
                        client_id=f"c{oid}",
                        status="FILLED" if filled else "CANCELED",
                        filled_qty=D("0.25") if filled else D(0),
                        avg_price=D("100.0100") if filled else None,
                        decision_price=D("100.02"),
                    )
                )
            s.commit()
            s.add(
                FillRow(
                    order_id=rid * 10,
                    round_id=rid,
                    venue=ASTER,
                    trade_id=f"t{rid}",
                    side="SELL",
                    qty=D("0.25"),
                    price=D("100.0100"),
                    fee=D("0.00875088"),
                    maker=False,
                )
            )
        s.commit()
    reader = Store(store.url, readonly=True)  # as hedgectl reads it
    try:
        trades, decisions = reader.finished_costs()
        assert [(t.round_id, t.price, t.fee, t.maker) for t in trades] == [
            (1, D("100.0100"), D("0.00875088"), False),
            (2, D("100.0100"), D("0.00875088"), False),
        ]
        assert [(o.round_id, o.avg_price, o.decision_price) for o in decisions] == [
            (1, D("100.0100"), D("100.02")),
            (2, D("100.0100"), D("100.02")),
        ]  # not the cancelled orders, not the open round's
        trades, decisions = reader.finished_costs(today)
        assert [t.round_id for t in trades] == [o.round_id for o in decisions] == [2]
        assert slippage(decisions[0]) == D("0.002500")  # sold below the decision price
    finally:
        reader.close()
