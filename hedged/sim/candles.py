"""Candles of one venue's symbol on every interval the venues offer, kept as the price path and
the trades happen: last-price candles (the mark path plus each trade), mark-price and
index-price candles. Aster's 24 h ticker is read from the same candles, so its klines,
ticker and trades agree."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from hedged.model import ZERO
from hedged.sim.records import Book, SimFill, SimOrder
from hedged.sim.world import World

MINUTE, HOUR, DAY = 60, 3600, 86_400
# Interval name -> seconds; a calendar month has no fixed length (`MONTH`).
MONTH = -1
INTERVALS: dict[str, int] = {
    "1s": 1,
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": 7 * DAY,
    "1M": MONTH,
    "1month": MONTH,
}
KEEP = 1500  # candles kept per interval: the most any kline request returns
WEEK_OFFSET = 4 * DAY  # the epoch was a Thursday; weekly candles open on Monday 00:00 UTC


@dataclass(slots=True)
class Candle:
    start: float  # seconds since the epoch
    end: float
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    trades: int = 0


def bounds(interval: str, at: float) -> tuple[float, float]:
    """[start, end) of the `interval` candle holding `at`."""
    seconds = INTERVALS[interval]
    if seconds == MONTH:
        moment = datetime.fromtimestamp(at, UTC)
        first = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        year, month = divmod(moment.month, 12)
        following = datetime(moment.year + year, month + 1, 1, tzinfo=UTC)
        return first.timestamp(), following.timestamp()
    offset = WEEK_OFFSET if seconds == 7 * DAY else 0
    start = (at - offset) // seconds * seconds + offset
    return start, start + seconds


class Candles:
    """One price series on every interval, the last `KEEP` candles of each.

    A price goes into the current second's candle only; the coarser series take a second's
    prices as one when the next second begins or when they are read (every interval's
    boundaries are whole seconds, so a second lies within one candle of each)."""

    def __init__(self) -> None:
        self._series: dict[str, deque[Candle]] = {name: deque(maxlen=KEEP) for name in INTERVALS}
        self._seconds = self._series["1s"]
        self._pending: Candle | None = None  # the prices the coarser series have yet to take

    def add(self, at: float, price: Decimal, qty: Decimal = ZERO) -> None:
        """A price at `at`; with `qty`, a trade of that size."""
        last = self._seconds[-1] if self._seconds else None
        if last is None or at >= last.end:
            self._fold()
            start, end = bounds("1s", at)
            last = Candle(start, end, price, price, price, price)
            self._seconds.append(last)
        pending = self._pending
        if pending is None:
            self._pending = pending = Candle(at, at, price, price, price, price)
        for candle in (last, pending):
            _take(candle, price, price, price, qty, qty * price, 1 if qty else 0)

    def _fold(self) -> None:
        """The pending prices into every coarser series."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        for interval, series in self._series.items():
            if series is self._seconds:
                continue
            last = series[-1] if series else None
            if last is None or pending.start >= last.end:
                start, end = bounds(interval, pending.start)
                last = Candle(start, end, pending.open, pending.high, pending.low, pending.close)
                series.append(last)
            p = pending
            _take(last, p.high, p.low, p.close, p.volume, p.quote_volume, p.trades)

    def select(
        self, interval: str, start: float | None, end: float | None, limit: int
    ) -> list[Candle]:
        """The candles opening in [start, end]: the first `limit` from `start`, else the last."""
        self._fold()
        chosen = [
            c
            for c in self._series[interval]
            if (start is None or c.start >= start) and (end is None or c.start <= end)
        ]
        return chosen[:limit] if start is not None else chosen[-limit:]

    def window(self, since: float) -> Candle | None:
        """The minute candles from `since` on, as one candle (the rolling tickers)."""
        self._fold()
        return merge(c for c in self._series["1m"] if c.end > since)


def _take(
    candle: Candle,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    quote_volume: Decimal,
    trades: int,
) -> None:
    """Prices (and trades) that came after the candle's so far."""
    candle.high, candle.low, candle.close = max(candle.high, high), min(candle.low, low), close
    if trades:
        candle.volume += volume
        candle.quote_volume += quote_volume
        candle.trades += trades


def merge(candles: Iterable[Candle]) -> Candle | None:
    merged: Candle | None = None
    for c in candles:
        if merged is None:
            merged = Candle(c.start, c.end, c.open, c.high, c.low, c.close)
        merged.end = c.end
        _take(merged, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades)
    return merged


class Tape:
    """What one venue's symbol printed: last-price, mark and index candles, fed by the world's
    price moves and the exchange's fills."""

    def __init__(self, world: World, venue: str, symbol: str | None = None) -> None:
        self.world = world
        self.venue = venue
        self.symbol = symbol or world.symbols[venue]
        self.exchange = world.venues[venue]
        self.last, self.mark, self.index = Candles(), Candles(), Candles()
        self.closed = False
        self._on_book(venue, self.symbol, world.book(venue, self.symbol))
        world.add_listener(self._on_book, (venue, self.symbol))
        self.exchange.add_listener(self._on_order)

    def close(self) -> None:
        self.closed = True
        self.world.remove_listener(self._on_book)

    def series(self, kind: str) -> Candles:
        return {"last": self.last, "mark": self.mark, "index": self.index}[kind]

    def _on_book(self, venue: str, symbol: str, book: Book) -> None:
        now, mark = self.exchange.now(), self.world.mid(venue, symbol)
        self.last.add(now, mark)
        self.mark.add(now, mark)
        self.index.add(now, self.world.underlying(venue, symbol))

    def _on_order(self, order: SimOrder, fill: SimFill | None) -> None:
        if fill is not None and fill.symbol == self.symbol and not self.closed:
            self.last.add(fill.at, fill.price, fill.qty)
