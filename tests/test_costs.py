"""The cost of volume: fees split maker/taker, slippage against each order's decision price,
funding, realized PnL per 10,000 USDT of volume (pure: no network, no database)."""

from __future__ import annotations

from decimal import Decimal as D

from hedged.costs import Costs, costs_of, slippage, total
from hedged.store import FillRow, OrderRow


def order(side: str, filled: str, avg: str | None, decided: str | None) -> OrderRow:
    return OrderRow(
        round_id=1,
        venue="aster",
        symbol="SOLUSDT",
        purpose="ENTRY",
        side=side,
        type="MARKET",
        qty=D(filled),
        filled_qty=D(filled),
        avg_price=None if avg is None else D(avg),
        decision_price=None if decided is None else D(decided),
    )


def fill(venue: str, qty: str, price: str, fee: str, maker: bool) -> FillRow:
    return FillRow(
        order_id=1,
        round_id=1,
        venue=venue,
        trade_id=f"{venue}-{qty}-{price}",
        side="BUY",
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        maker=maker,
    )


def test_slippage_is_what_the_fills_cost_beyond_the_decision_price() -> None:
    assert slippage(order("BUY", "2", "100.05", "100.00")) == D("0.10")  # paid more
    assert slippage(order("SELL", "2", "99.95", "100.00")) == D("0.10")  # got less
    assert slippage(order("SELL", "1", "100.02", "100.00")) == D("-0.02")  # price improved
    assert slippage(order("BUY", "1", "100", None)) == 0  # decided on nothing recorded
    assert slippage(order("BUY", "0", None, "100")) == 0  # nothing filled
    assert str(slippage(order("SELL", "2", "100.00", "100.00"))) == "0.00"  # never "-0.00"


def test_a_rounds_costs_and_the_cost_per_ten_thousand_of_volume() -> None:
    fills = [
        fill("aster", "1", "100", "0.035", maker=False),
        fill("aster", "1", "101", "0.0202", maker=True),
        fill("backpack", "1", "100", "0.05", maker=False),
        fill("backpack", "1", "99", "0.05", maker=False),
    ]
    orders = [order("BUY", "1", "100.01", "100.00"), order("SELL", "1", "98.99", "99.00")]
    c = costs_of(orders, fills, realized_pnl=D("-0.40"), funding=D("-0.01"))
    assert c.volume == {"aster": D(201), "backpack": D(199)}
    assert (c.maker_fees, c.taker_fees, c.fees) == (D("0.0202"), D("0.135"), D("0.1552"))
    assert c.slippage == D("0.02")
    assert c.funding == D("-0.01")
    assert c.cost_per_10k == D("10.0000")  # 0.40 lost over 400 of volume
    assert Costs().cost_per_10k is None


def test_costs_add_up_over_a_day() -> None:
    a = Costs({"aster": D(100), "backpack": D(100)}, D("0.01"), D("0.1"), D("0.02"), D(0), D(-1))
    b = Costs({"aster": D(50), "backpack": D(50)}, D(0), D("0.05"), D(0), D("0.01"), D("0.5"))
    day = total([a, b])
    assert day.volume == {"aster": D(150), "backpack": D(150)}
    assert (day.fees, day.slippage, day.funding, day.realized_pnl) == (
        D("0.16"),
        D("0.02"),
        D("0.01"),
        D("-0.5"),
    )
    assert day.cost_per_10k == D("16.6667")
