"""A round's two legs, derived from its orders as the venues reported them.

The hedge: a short on one venue and a long of equal quantity on the other; which venue holds
the short is the round's own (`RoundRow.short_venue`, Aster unless the round chose
otherwise). A leg's open quantity and entry price are never stored separately: they follow
from the orders' fills, so there is one source of truth after any crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedged.model import ZERO, Quote, Side
from hedged.store import FillRow, OrderRow, RoundRow

ASTER = "aster"
BACKPACK = "backpack"
VENUES = (ASTER, BACKPACK)


def symbol_of(round_: RoundRow, venue: str) -> str:
    return round_.aster_symbol if venue == ASTER else round_.backpack_symbol


def entry_side(round_: RoundRow, venue: str) -> Side:
    """The side `venue`'s leg of the round opens with: SELL on its short venue, BUY on the
    other."""
    return Side.SELL if venue == round_.short_venue else Side.BUY


def other_venue(venue: str) -> str:
    return BACKPACK if venue == ASTER else ASTER


@dataclass(frozen=True, slots=True)
class Leg:
    venue: str
    symbol: str
    side: Side  # the side the leg was opened with
    entered: Decimal  # total quantity filled on the entry side
    qty: Decimal  # still open
    entry_price: Decimal | None  # volume-weighted over the entry fills
    exit_price: Decimal | None = None  # volume-weighted over the closing fills

    @property
    def is_open(self) -> bool:
        return self.qty > 0

    def pnl_pct(self, quote: Quote) -> Decimal:
        """Return on the open position if closed now at the venue's exit-side price."""
        assert self.entry_price is not None, f"{self.venue} leg has no entry"
        exit_price = quote.exit_price(self.side)
        return (exit_price - self.entry_price) / self.entry_price * self.side.sign

    def pnl(self, quote: Quote) -> Decimal:
        if not self.is_open or self.entry_price is None:
            return ZERO
        return (quote.exit_price(self.side) - self.entry_price) * self.qty * self.side.sign


def legs_of(round_: RoundRow, orders: Iterable[OrderRow]) -> dict[str, Leg]:
    entered = {v: ZERO for v in VENUES}
    exited = {v: ZERO for v in VENUES}
    cost = {v: ZERO for v in VENUES}
    proceeds = {v: ZERO for v in VENUES}
    sides = {v: entry_side(round_, v) for v in VENUES}
    for o in orders:
        if o.filled_qty <= 0:
            continue
        if o.side == sides[o.venue].value:
            entered[o.venue] += o.filled_qty
            assert o.avg_price is not None, f"order {o.id} filled without a price"
            cost[o.venue] += o.filled_qty * o.avg_price
        else:
            exited[o.venue] += o.filled_qty
            assert o.avg_price is not None, f"order {o.id} filled without a price"
            proceeds[o.venue] += o.filled_qty * o.avg_price
    return {
        v: Leg(
            venue=v,
            symbol=symbol_of(round_, v),
            side=sides[v],
            entered=entered[v],
            qty=entered[v] - exited[v],
            entry_price=cost[v] / entered[v] if entered[v] else None,
            exit_price=proceeds[v] / exited[v] if exited[v] else None,
        )
        for v in VENUES
    }


@dataclass(frozen=True, slots=True)
class Realized:
    pnl: Decimal  # after fees
    fees: Decimal
    volume: Decimal  # traded notional over both venues


def realized(fills: Iterable[FillRow]) -> Realized:
    """PnL of a flat round from its fills: what the sells brought in, minus what the buys
    cost, minus fees."""
    cash = fees = volume = ZERO
    for f in fills:
        notional = f.qty * f.price
        cash += notional if f.side == Side.SELL.value else -notional
        fees += f.fee
        volume += notional
    return Realized(pnl=cash - fees, fees=fees, volume=volume)
