"""The trigger index: a price event reaches exactly the rounds whose levels it crosses."""

from __future__ import annotations

from decimal import Decimal

from hedged.legs import Leg
from hedged.model import Quote, Side
from hedged.triggers import TriggerIndex, fill_level, stop_level

D = Decimal


def leg(venue: str, side: Side, entry: str) -> Leg:
    return Leg(venue, "SYM", side, D("1"), D("1"), D(entry))


def quote(bid: str, ask: str, venue: str = "aster") -> Quote:
    return Quote(venue, "SYM", D(bid), D(ask), 0.0)


def test_short_stops_when_the_ask_rises_long_when_the_bid_falls() -> None:
    index = TriggerIndex()
    index.watch(1, [stop_level(leg("aster", Side.SELL, "100"), D("0.01"))])  # ask >= 101
    index.watch(2, [stop_level(leg("aster", Side.BUY, "100"), D("0.01"))])  # bid <= 99
    assert index.crossed(quote("100", "100.5")) == set()
    assert index.crossed(quote("100.9", "101")) == {1}
    assert index.crossed(quote("99", "99.1")) == {2}
    assert index.crossed(quote("99", "99.1", venue="backpack")) == set()


def test_take_profit_fill_levels() -> None:
    index = TriggerIndex()
    index.watch(1, [fill_level(leg("aster", Side.BUY, "100"), D("101.2"))])  # bid >= 101.2
    index.watch(2, [fill_level(leg("aster", Side.SELL, "100"), D("98.8"))])  # ask <= 98.8
    assert index.crossed(quote("101.19", "101.21")) == set()
    assert index.crossed(quote("101.2", "101.3")) == {1}
    assert index.crossed(quote("98.7", "98.8")) == {2}


def test_rewatching_replaces_and_discard_removes() -> None:
    index = TriggerIndex()
    index.watch(7, [stop_level(leg("aster", Side.SELL, "100"), D("0.01"))])
    index.watch(7, [stop_level(leg("aster", Side.SELL, "200"), D("0.01"))])
    assert index.crossed(quote("150", "150")) == set()
    assert index.crossed(quote("202", "202")) == {7}
    index.discard(7)
    assert index.crossed(quote("202", "202")) == set() and len(index) == 0


def test_many_rounds_only_the_crossed_ones_come_back() -> None:
    index = TriggerIndex()
    for i in range(1000):
        index.watch(i, [stop_level(leg("aster", Side.SELL, str(100 + i)), D("0.01"))])
    crossed = index.crossed(quote("103", "103.03"))  # 100 * 1.01 = 101 ... 102 * 1.01 = 103.02
    assert crossed == {0, 1, 2}
