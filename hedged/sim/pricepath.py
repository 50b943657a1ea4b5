"""Price paths for the simulated underlying: seeded GBM, CSV replay, and scripted prices."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from os import PathLike
from typing import Protocol

PRICE_QUANTUM = Decimal("0.00000001")
MIN_PRICE, MAX_PRICE = Decimal("0.01"), Decimal(1_000_000)  # as paper.start_price
SECONDS_PER_YEAR = Decimal(365 * 24 * 3600)


class PricePath(Protocol):
    """A price that moves with time. `set` forces the current price; the path continues from it."""

    @property
    def price(self) -> Decimal: ...

    def advance(self, dt_seconds: float) -> Decimal: ...

    def set(self, price: Decimal) -> None: ...


class GbmPath:
    """Geometric Brownian motion without drift; the same seed gives the same path."""

    def __init__(self, start: Decimal, volatility: Decimal, seed: int) -> None:
        if start <= 0:
            raise ValueError(f"start price must be positive, got {start}")
        self._price = start.quantize(PRICE_QUANTUM)
        self._volatility = volatility
        self._random = random.Random(seed)

    @property
    def price(self) -> Decimal:
        return self._price

    def advance(self, dt_seconds: float) -> Decimal:
        if dt_seconds < 0:
            raise ValueError(f"time cannot go back ({dt_seconds} s)")
        years = Decimal(str(dt_seconds)) / SECONDS_PER_YEAR
        shock = Decimal(str(self._random.gauss(0.0, 1.0)))
        # Ito correction (-sigma^2/2) keeps the expected price constant.
        log_return = -(self._volatility**2) / 2 * years + self._volatility * years.sqrt() * shock
        self._price = (self._price * log_return.exp()).quantize(PRICE_QUANTUM)
        return self._price

    def set(self, price: Decimal) -> None:
        self._price = price


class CsvPath:
    """Replays `timestamp,price` rows (seconds, relative or absolute; header optional); an
    optional third column is the funding rate per 8 hours from that row on."""

    def __init__(self, path: str | PathLike[str]) -> None:
        rows = _read_rows(path)
        start = rows[0][0]
        self._times = [at - start for at, _, _ in rows]
        self._prices = [price for _, price, _ in rows]
        self._rates = [rate for _, _, rate in rows]
        self._index = 0
        self._elapsed = Decimal(0)  # Decimal so that many small steps land exactly on a row
        self._price = self._prices[0]

    @property
    def price(self) -> Decimal:
        return self._price

    def funding_rate(self) -> Decimal | None:
        """The current row's 8-hour funding rate; None without the column."""
        return self._rates[self._index]

    def advance(self, dt_seconds: float) -> Decimal:
        if dt_seconds < 0:
            raise ValueError(f"time cannot go back ({dt_seconds} s)")
        self._elapsed += Decimal(str(dt_seconds))
        while self._index + 1 < len(self._times) and self._times[self._index + 1] <= self._elapsed:
            self._index += 1
            self._price = self._prices[self._index]
        return self._price

    def set(self, price: Decimal) -> None:
        self._price = price


class ScriptedPath:
    """Each `advance` moves to the next given price, whatever the time step; then stays."""

    def __init__(self, prices: Sequence[Decimal]) -> None:
        if not prices:
            raise ValueError("a scripted path needs at least one price")
        self._pending = list(prices[1:])
        self._price = prices[0]

    @property
    def price(self) -> Decimal:
        return self._price

    def advance(self, dt_seconds: float) -> Decimal:
        if self._pending:
            self._price = self._pending.pop(0)
        return self._price

    def set(self, price: Decimal) -> None:
        self._price = price


def _read_rows(path: str | PathLike[str]) -> list[tuple[Decimal, Decimal, Decimal | None]]:
    rows: list[tuple[Decimal, Decimal, Decimal | None]] = []
    with open(path, newline="") as file:
        for line_no, row in enumerate(csv.reader(file), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                at, price = Decimal(row[0].strip()), Decimal(row[1].strip())
            except (InvalidOperation, IndexError) as error:
                if line_no == 1:
                    continue  # the header
                raise ValueError(
                    f"{path}:{line_no}: expected timestamp,price, got {row}"
                ) from error
            if not (at.is_finite() and price.is_finite() and MIN_PRICE <= price <= MAX_PRICE):
                raise ValueError(
                    f"{path}:{line_no}: price {row[1].strip()!r} is not between "
                    f"{MIN_PRICE} and {MAX_PRICE}, or timestamp {row[0].strip()!r} not finite"
                )
            if rows and at < rows[-1][0]:
                raise ValueError(f"{path}:{line_no}: timestamp {at} goes back in time")
            rows.append((at, price, _funding_rate(path, line_no, row)))
    if not rows:
        raise ValueError(f"{path}: no timestamp,price rows")
    return rows


def _funding_rate(path: str | PathLike[str], line_no: int, row: list[str]) -> Decimal | None:
    text = row[2].strip() if len(row) > 2 else ""
    if not text:
        return None
    try:
        rate = Decimal(text)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not (rate.is_finite() and abs(rate) < 1):
        raise ValueError(f"{path}:{line_no}: funding rate {text!r} is not a number in (-1, 1)")
    return rate
