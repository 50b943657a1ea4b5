"""Funding in the simulator's core: the schedule (boundaries, seeded rates), the payments on
open positions (sign, amount, digits), their records and listeners, persistence, and the
world settling on its price moves. Pure logic: no network."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from hedged.model import OrderRequest, OrderType, Side
from hedged.sim.exchange import SimExchange
from hedged.sim.funding import FundingPayment, FundingPlan, FundingSchedule, funding_view
from hedged.sim.pricepath import CsvPath, ScriptedPath
from hedged.sim.records import MarketSpec
from hedged.sim.world import World

D = Decimal
NOW = 1_750_000_000.0  # 3200 s before an 8 h (and an hourly) boundary
BOUNDARY = 1_750_003_200.0
SYMBOL = "SOLUSDT"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def market(fee_places: int | None = None) -> MarketSpec:
    return MarketSpec(SYMBOL, D("0.01"), D("0.01"), D("0.01"), D(5), fee_places=fee_places)


def exchange_with_positions(clock: Clock, fee_places: int | None = None) -> SimExchange:
    """alice long 2, bob short 3, carol flat; the book 149.99 / 150.01, mark 150."""
    exchange = SimExchange("aster", {SYMBOL: market(fee_places)}, clock)
    exchange.set_book(SYMBOL, D("149.99"), D("150.01"))
    for account, side, qty in (("alice", Side.BUY, "2"), ("bob", Side.SELL, "3")):
        request = OrderRequest(f"{account}-1", SYMBOL, side, OrderType.MARKET, D(qty))
        exchange.place(account, request)
    return exchange


def test_a_positive_rate_takes_from_longs_and_pays_shorts() -> None:
    clock = Clock()
    exchange = exchange_with_positions(clock)
    before = {a: exchange.balance(a) for a in ("alice", "bob", "carol")}
    payments = exchange.settle_funding(SYMBOL, D("0.0001"))
    assert [(p.account, p.qty, p.amount) for p in payments] == [
        ("alice", D(2), D("-0.03")),  # -2 x 150 x 0.0001
        ("bob", D(-3), D("0.045")),
    ]
    after = {a: exchange.balance(a) for a in ("alice", "bob", "carol")}
    assert after == {
        "alice": before["alice"] - D("0.03"),
        "bob": before["bob"] + D("0.045"),
        "carol": before["carol"],
    }
    [rate] = exchange.funding_rates(SYMBOL)
    assert (rate.rate, rate.mark, rate.at) == (D("0.0001"), D(150), NOW)
    assert exchange.funding_payments("alice") == [payments[0]]
    assert exchange.funding_payments("bob", SYMBOL) == [payments[1]]
    assert [p.payment_id for p in payments] == [1, 2]


def test_a_negative_rate_pays_longs_and_payments_keep_the_fee_digits() -> None:
    exchange = exchange_with_positions(Clock(), fee_places=2)
    payments = exchange.settle_funding(SYMBOL, D("-0.000123"))
    # alice: 2 x 150 x 0.000123 = 0.0369 -> 0.04; bob: -0.05535 -> -0.06 (half even)
    assert [p.amount for p in payments] == [D("0.04"), D("-0.06")]


def test_funding_listeners_see_each_payment_and_the_state_round_trips() -> None:
    clock = Clock()
    exchange = exchange_with_positions(clock)
    seen: list[FundingPayment] = []
    exchange.add_funding_listener(seen.append)
    payments = exchange.settle_funding(SYMBOL, D("0.0002"), at=BOUNDARY)
    assert seen == payments
    restored = SimExchange.from_dict(exchange.to_dict(), clock)
    assert restored.funding_rates(SYMBOL) == exchange.funding_rates(SYMBOL)
    assert restored.funding_payments("bob") == exchange.funding_payments("bob")
    assert restored.balance("bob") == exchange.balance("bob")


def test_settling_without_a_mark_is_an_error_naming_the_symbol() -> None:
    exchange = SimExchange("aster", {SYMBOL: market()}, Clock())
    with pytest.raises(KeyError, match="no mark price for SOLUSDT"):
        exchange.settle_funding(SYMBOL, D("0.0001"))


def test_the_schedule_settles_each_boundary_passed_once_and_draws_the_next_rate() -> None:
    clock = Clock()
    plan = FundingPlan(D(8), D("0.0001"), D("0.00005"), seed=3)
    schedule = FundingSchedule(plan, clock)
    first = schedule.rate(SYMBOL)
    assert schedule.next_time(SYMBOL) == BOUNDARY
    assert schedule.due(SYMBOL) == []
    clock.now = BOUNDARY + 2 * 8 * 3600  # three boundaries reached
    due = schedule.due(SYMBOL)
    assert [at for at, _ in due] == [BOUNDARY, BOUNDARY + 28_800, BOUNDARY + 57_600]
    assert due[0][1] == first
    assert all(D("0.00005") <= rate <= D("0.00015") for _, rate in due)
    assert schedule.due(SYMBOL) == []
    assert schedule.next_time(SYMBOL) == BOUNDARY + 3 * 28_800
    # The same seed draws the same rates.
    again = FundingSchedule(plan, Clock())
    assert [again.rate(SYMBOL), *(r for _, r in due[1:])] == [r for _, r in due]


def test_a_fixed_rate_applies_to_every_settlement_until_released() -> None:
    """The admin API's control: a rate fixed for a symbol is the predicted rate at once and
    every settlement's after it; released, the plan's draws come back."""
    clock = Clock()
    plan = FundingPlan(D(1), D("0.0001"), D("0.00005"), seed=3)
    schedule = FundingSchedule(plan, clock)
    drawn = schedule.rate(SYMBOL)
    assert schedule.next_time(SYMBOL) == BOUNDARY
    schedule.fix(SYMBOL, D("-0.0007"))
    assert schedule.rate(SYMBOL) == D("-0.0007")
    clock.now = BOUNDARY + 3600  # two hourly boundaries reached
    assert [rate for _, rate in schedule.due(SYMBOL)] == [D("-0.0007")] * 2
    schedule.fix(SYMBOL, None)
    assert schedule.rate(SYMBOL) != D("-0.0007")
    assert FundingSchedule(plan, Clock()).rate(SYMBOL) == drawn


def test_a_symbol_can_have_its_own_interval_and_the_view_without_a_schedule() -> None:
    clock = Clock()
    plan = FundingPlan(D(8), D("0.0001"), intervals={"BTCUSDT": D(4)})
    schedule = FundingSchedule(plan, clock)
    assert schedule.interval_seconds("BTCUSDT") == 4 * 3600
    assert schedule.next_time("BTCUSDT") == 1_750_003_200.0  # also a 4 h boundary
    view = funding_view(schedule, plan, "BTCUSDT", clock())
    assert (view.rate, view.hours) == (D("0.0001"), D(4))
    off = funding_view(None, FundingPlan(D(1), D("0.0001")), SYMBOL, NOW)
    assert (off.rate, off.next_at, off.hours) == (D(0), BOUNDARY, D(1))


def test_a_settlement_off_the_plan_moves_the_published_next_one_an_interval_after_it() -> None:
    """A venue's next settlement is an interval after its last: a daemon reading the
    schedule after a test's settlement (off any plan) sees that one as the last."""
    clock = Clock()
    exchange = exchange_with_positions(clock)
    hourly = FundingPlan(D(1), D(0))
    exchange.settle_funding(SYMBOL, D("0.0001"))  # 3200 s before the hourly boundary
    view = funding_view(None, hourly, SYMBOL, clock(), exchange.funding_rates(SYMBOL))
    assert view.next_at == NOW + 3600 > BOUNDARY
    clock.now = BOUNDARY + 3600  # long after it: the plan's boundaries again
    view = funding_view(None, hourly, SYMBOL, clock(), exchange.funding_rates(SYMBOL))
    assert view.next_at == BOUNDARY + 7200


def test_the_world_settles_when_its_price_moves_past_a_boundary() -> None:
    clock = Clock()
    exchange = exchange_with_positions(clock)
    schedule = FundingSchedule(FundingPlan(D(8), D("0.0001")), clock)
    world = World(
        ScriptedPath([D(150)]), {"aster": exchange}, {"aster": SYMBOL}, funding={"aster": schedule}
    )
    clock.now = BOUNDARY - 1
    world.set_price(D(150))
    assert exchange.funding_rates(SYMBOL) == []
    clock.now = BOUNDARY
    world.set_price(D(160))
    [rate] = exchange.funding_rates(SYMBOL)
    assert (rate.rate, rate.mark, rate.at) == (D("0.0001"), D(160), BOUNDARY)
    assert [p.amount for p in exchange.funding_payments("alice")] == [D("-0.032")]


def test_a_price_csv_column_sets_the_rate_scaled_to_each_interval(tmp_path: Path) -> None:
    csv_file = tmp_path / "path.csv"
    csv_file.write_text("timestamp,price,funding_rate\n0,150,0.0008\n60,151,-0.0004\n120,152,\n")
    path = CsvPath(csv_file)
    hourly = FundingSchedule(FundingPlan(D(1), D("0.00001")), Clock(), path.funding_rate)
    eight = FundingSchedule(FundingPlan(D(8), D("0.00001")), Clock(), path.funding_rate)
    assert (hourly.rate(SYMBOL), eight.rate(SYMBOL)) == (D("0.0001"), D("0.0008"))
    path.advance(60)
    assert (hourly.rate(SYMBOL), eight.rate(SYMBOL)) == (D("-0.00005"), D("-0.0004"))
    path.advance(60)  # an empty cell: the plan's own rate
    assert (path.funding_rate(), hourly.rate(SYMBOL)) == (None, D("0.00001"))


def test_a_bad_funding_rate_in_the_csv_names_the_line(tmp_path: Path) -> None:
    csv_file = tmp_path / "path.csv"
    csv_file.write_text("0,150,0.0001\n60,151,2\n")
    with pytest.raises(ValueError, match=r"path.csv:2: funding rate '2' is not a number"):
        CsvPath(csv_file)
