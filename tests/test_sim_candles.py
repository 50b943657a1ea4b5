"""Candles from the price path and the fills: interval boundaries (minutes, Monday weeks,
calendar months), open/high/low/close, volume and trade counts, selection, the rolling
window the tickers read. Pure logic: no network."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hedged.model import OrderRequest, OrderType, Side
from hedged.sim.candles import INTERVALS, KEEP, Candles, Tape, bounds
from hedged.sim.exchange import SimExchange
from hedged.sim.pricepath import ScriptedPath
from hedged.sim.records import MarketSpec
from hedged.sim.world import World

D = Decimal
T0 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC).timestamp()  # a Wednesday, 10:00 UTC


def ts(year: int, month: int, day: int, hour: int = 0) -> float:
    return datetime(year, month, day, hour, tzinfo=UTC).timestamp()


def test_interval_bounds_follow_the_clock_the_week_and_the_calendar() -> None:
    assert bounds("1m", T0 + 59.9) == (T0, T0 + 60)
    assert bounds("4h", T0) == (ts(2026, 3, 4, 8), ts(2026, 3, 4, 12))
    assert bounds("1w", T0) == (ts(2026, 3, 2), ts(2026, 3, 9))  # Monday to Monday
    assert bounds("1M", T0) == (ts(2026, 3, 1), ts(2026, 4, 1))
    assert bounds("1month", ts(2026, 12, 31, 23)) == (ts(2026, 12, 1), ts(2027, 1, 1))
    assert bounds("3d", T0)[1] - bounds("3d", T0)[0] == 3 * 86_400


def test_a_candle_opens_highs_lows_and_closes_with_the_trades_volume() -> None:
    candles = Candles()
    candles.add(T0 + 1, D(150))
    candles.add(T0 + 10, D(152), D(2))
    candles.add(T0 + 20, D(149))
    candles.add(T0 + 61, D(151), D("0.5"))
    first, second = candles.select("1m", None, None, 10)
    assert (first.open, first.high, first.low, first.close) == (D(150), D(152), D(149), D(149))
    assert (first.volume, first.quote_volume, first.trades) == (D(2), D(304), 1)
    assert (second.start, second.open, second.volume) == (T0 + 60, D(151), D("0.5"))
    [hour] = candles.select("1h", None, None, 10)
    assert (hour.open, hour.high, hour.low, hour.close) == (D(150), D(152), D(149), D(151))
    assert (hour.volume, hour.trades) == (D("2.5"), 2)


def test_a_read_within_a_second_counts_its_prices_and_trades_once() -> None:
    """The coarser series take a second's prices when read; the rest of the second joins them
    later without counting the first part twice."""
    candles = Candles()
    candles.add(T0 + 0.1, D(150), D(1))
    candles.add(T0 + 0.2, D(153))
    [minute] = candles.select("1m", None, None, 10)
    assert (minute.open, minute.high, minute.close, minute.volume) == (D(150), D(153), D(153), D(1))
    candles.add(T0 + 0.3, D(148), D(2))
    candles.add(T0 + 1.5, D(151))
    [minute] = candles.select("1m", None, None, 10)
    assert (minute.open, minute.high, minute.low, minute.close) == (D(150), D(153), D(148), D(151))
    assert (minute.volume, minute.quote_volume, minute.trades) == (D(3), D(446), 2)
    first, second = candles.select("1s", None, None, 10)
    assert (first.close, first.volume, second.open) == (D(148), D(3), D(151))


def test_selection_from_a_start_takes_the_first_and_without_one_the_last() -> None:
    candles = Candles()
    for minute in range(5):
        candles.add(T0 + 60 * minute, D(150 + minute))
    assert [c.open for c in candles.select("1m", T0 + 60, None, 2)] == [D(151), D(152)]
    assert [c.open for c in candles.select("1m", None, T0 + 180, 2)] == [D(152), D(153)]
    assert [c.open for c in candles.select("1m", None, None, 2)] == [D(153), D(154)]


def test_only_the_last_candles_are_kept_and_the_window_merges_minutes() -> None:
    candles = Candles()
    for minute in range(KEEP + 10):
        candles.add(T0 + 60 * minute, D(100 + minute % 7))
    kept = candles.select("1m", None, None, KEEP + 10)
    assert len(kept) == KEEP and kept[0].start == T0 + 600
    window = candles.window(T0 + 60 * (KEEP + 7))
    assert window is not None
    # minutes KEEP+7 .. KEEP+9 at 100 + minute % 7: 102, 103, 104
    assert (window.start, window.open, window.close) == (T0 + 60 * (KEEP + 7), D(102), D(104))
    assert (window.high, window.low) == (D(104), D(102))
    assert set(INTERVALS) >= {"1s", "1m", "1h", "1d", "1w", "1M", "1month"}


def test_the_tape_follows_the_world_and_the_fills() -> None:
    now = [T0]
    market = MarketSpec("SOLUSDT", D("0.01"), D("0.01"), D("0.01"), D(5))
    exchange = SimExchange("aster", {"SOLUSDT": market}, lambda: now[0])
    world = World(ScriptedPath([D(150)]), {"aster": exchange}, {"aster": "SOLUSDT"})
    tape = Tape(world, "aster")
    now[0] = T0 + 5
    world.set_price(D(151))
    exchange.place("alice", OrderRequest("c-1", "SOLUSDT", Side.BUY, OrderType.MARKET, D(1)))
    [last] = tape.last.select("1m", None, None, 1)
    [mark] = tape.mark.select("1m", None, None, 1)
    # the buy lifted the ask above the mid: the last price shows it, the mark does not
    assert (last.open, last.close, last.volume, last.trades) == (D(150), D("151.02"), D(1), 1)
    assert (mark.open, mark.close, mark.volume) == (D(150), D(151), D(0))
    tape.close()
    world.set_price(D(140))
    assert tape.mark.select("1m", None, None, 1)[0].low == D(150)
