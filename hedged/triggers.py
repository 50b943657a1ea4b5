"""Rounds indexed by the prices at which they would act, so that a price event costs in
proportion to the rounds it can trigger, not to every open round.

A level is conservative: crossing it only means "step this round now"; the round's own
step decides. Rounds without levels (opening, closing) are stepped every pass anyway; the
slow timer steps rounds with orders to follow and rounds past their deadline.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from hedged.legs import Leg
from hedged.model import Quote, Side

Touch = Literal["bid", "ask"]
Direction = Literal["above", "below"]


@dataclass(frozen=True, slots=True)
class Level:
    venue: str
    symbol: str
    touch: Touch  # the side of the book the round watches
    direction: Direction  # act when that price is at or above / at or below `price`
    price: Decimal


def any_price(venue: str, symbol: str) -> Level:
    """Reached by the next price at all: a round that put off a decision for a stale price
    takes it when a price arrives."""
    return Level(venue, symbol, "bid", "above", Decimal(0))


def stop_level(leg: Leg, stop_loss: Decimal) -> Level:
    """Where the leg's loss reaches the stop: a long exits at the bid, a short at the ask."""
    assert leg.entry_price is not None
    if leg.side is Side.BUY:
        return Level(leg.venue, leg.symbol, "bid", "below", leg.entry_price * (1 - stop_loss))
    return Level(leg.venue, leg.symbol, "ask", "above", leg.entry_price * (1 + stop_loss))


def fill_level(leg: Leg, limit: Decimal) -> Level:
    """Where the leg's resting take-profit at `limit` can fill."""
    if leg.side is Side.BUY:  # a sell limit fills once the bid reaches it
        return Level(leg.venue, leg.symbol, "bid", "above", limit)
    return Level(leg.venue, leg.symbol, "ask", "below", limit)


class TriggerIndex:
    def __init__(self) -> None:
        self._books: dict[tuple[str, str, Touch, Direction], list[tuple[Decimal, int]]] = {}
        self._levels: dict[int, list[Level]] = {}

    def watch(self, round_id: int, levels: Iterable[Level]) -> None:
        self.discard(round_id)
        kept = list(levels)
        for lv in kept:
            insort(self._books.setdefault(self._key(lv), []), (lv.price, round_id))
        self._levels[round_id] = kept

    def discard(self, round_id: int) -> None:
        for lv in self._levels.pop(round_id, []):
            book = self._books[self._key(lv)]
            book.pop(bisect_left(book, (lv.price, round_id)))

    def crossed(self, quote: Quote) -> set[int]:
        """Rounds with a level that `quote` reaches."""
        hit: set[int] = set()
        touches: tuple[tuple[Touch, Decimal], ...] = (("bid", quote.bid), ("ask", quote.ask))
        for touch, price in touches:
            above = self._books.get((quote.venue, quote.symbol, touch, "above"))
            if above and above[0][0] <= price:  # the lowest level first: most quotes stop here
                hit.update(r for _, r in above[: bisect_right(above, (price, 1 << 62))])
            below = self._books.get((quote.venue, quote.symbol, touch, "below"))
            if below and below[-1][0] >= price:
                hit.update(r for _, r in below[bisect_left(below, (price, -1)) :])
        return hit

    def __len__(self) -> int:
        return len(self._levels)

    @staticmethod
    def _key(lv: Level) -> tuple[str, str, Touch, Direction]:
        return (lv.venue, lv.symbol, lv.touch, lv.direction)
