"""The latest top of book per venue and symbol, and how old it is."""

from __future__ import annotations

import asyncio
import time

from hedged.model import Quote


class PriceBook:
    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._quotes: dict[tuple[str, str], Quote] = {}
        self._touched: set[tuple[str, str]] = set()
        self.changed = asyncio.Event()

    def update(self, quote: Quote) -> None:
        key = (quote.venue, quote.symbol)
        self._quotes[key] = quote
        self._touched.add(key)
        self.changed.set()

    def take_touched(self) -> list[Quote]:
        """The latest quote of every book that changed since the last call."""
        touched, self._touched = self._touched, set()
        return [self._quotes[k] for k in touched]

    def latest(self, venue: str, symbol: str) -> Quote | None:
        return self._quotes.get((venue, symbol))

    def age(self, venue: str, symbol: str) -> float | None:
        q = self._quotes.get((venue, symbol))
        return None if q is None else time.monotonic() - q.at

    def fresh(self, venue: str, symbol: str) -> Quote | None:
        """The quote if it is young enough to act on; decisions never use stale prices."""
        q = self._quotes.get((venue, symbol))
        if q is None or time.monotonic() - q.at > self.max_age:
            return None
        return q

    def all(self) -> list[Quote]:
        return list(self._quotes.values())
