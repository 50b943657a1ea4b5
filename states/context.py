"""What a state's step sees and does: the round, its orders and legs, prices, the order desk.

A step is a decision over persisted facts plus orders sent through the desk, written so that
running it again after a crash at any point sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from math import lcm
from typing import Any

from hedged.adapters.base import OrderType, Quote, Side, SymbolRules
from hedged.config import StrategyConfig
from hedged.legs import Leg, legs_of, symbol_of
from hedged.orders import Intent, OrderDesk
from hedged.prices import PriceBook
from hedged.states.machine import Trigger
from hedged.store import OrderRow, RoundRow, Store

log = logging.getLogger("hedged.round")

# Order purposes.
ENTRY = "ENTRY"
TRIM = "TRIM"  # equalizes a partial entry fill
STOP = "STOP"  # closes the losing leg at market
TAKE_PROFIT = "TAKE_PROFIT"
CLOSE = "CLOSE"  # market close in CLOSING


@dataclass(frozen=True, slots=True)
class Move:
    """A step's decision: fire `trigger`, record `reason` and any round fields."""

    trigger: Trigger
    reason: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RoundContext:
    round: RoundRow
    orders: list[OrderRow]
    strategy: StrategyConfig
    rules: Mapping[str, SymbolRules]  # by venue
    prices: PriceBook
    desk: OrderDesk
    store: Store
    now: datetime
    poll_due: bool = False  # the slow timer fired: re-read resting orders

    @property
    def id(self) -> int:
        assert self.round.id is not None
        return self.round.id

    @property
    def legs(self) -> dict[str, Leg]:
        return legs_of(self.round, self.orders)

    def reload(self) -> None:
        self.orders = self.store.orders_of(self.id)

    def of(self, purpose: str, venue: str | None = None) -> list[OrderRow]:
        return [o for o in self.orders if o.purpose == purpose and venue in (None, o.venue)]

    def live(self, purpose: str | None = None) -> list[OrderRow]:
        return [o for o in self.orders if not o.terminal and purpose in (None, o.purpose)]

    def quote(self, venue: str) -> Quote | None:
        return self.prices.fresh(venue, symbol_of(self.round, venue))

    def update_round(self, **fields: Any) -> None:
        self.round = self.store.update_round(self.id, **fields)

    @property
    def deadline_passed(self) -> bool:
        return self.round.deadline_at is not None and self.now >= self.round.deadline_at

    async def submit(self, intents: Sequence[Intent]) -> list[OrderRow]:
        rows = await self.desk.submit(self.id, intents)
        self.reload()
        return rows

    async def refresh_live(self, purpose: str | None = None) -> None:
        for o in self.live(purpose):
            await self.desk.refresh(o)
        self.reload()

    def close_intent(self, leg: Leg, purpose: str) -> Intent:
        """A reduce-only market order that takes `leg` flat."""
        return Intent(leg.venue, leg.symbol, leg.side.opposite, leg.qty, purpose, reduce_only=True)

    def take_profit_intent(self, leg: Leg) -> Intent:
        assert leg.entry_price is not None
        side = leg.side.opposite
        target = leg.entry_price * (1 + self.strategy.take_profit * leg.side.sign)
        price = self.rules[leg.venue].price_toward(target, side)
        return Intent(
            leg.venue,
            leg.symbol,
            side,
            leg.qty,
            TAKE_PROFIT,
            OrderType.LIMIT,
            price,
            reduce_only=True,
        )


def describe_pnl(leg: Leg, quote: Quote) -> str:
    pct = leg.pnl_pct(quote) * 100
    side = "long" if leg.side is Side.BUY else "short"
    return (
        f"{leg.venue} {side} {leg.qty} {leg.symbol} entry {leg.entry_price} "
        f"now {quote.exit_price(leg.side)} ({pct:+.3f}%)"
    )


def common_step(a: Decimal, b: Decimal) -> Decimal:
    """The smallest quantity increment both venues accept."""
    if b % a == 0:
        return b
    if a % b == 0:
        return a
    places = max(-int(a.as_tuple().exponent), -int(b.as_tuple().exponent))
    scale = Decimal(10) ** places
    x, y = int(a * scale), int(b * scale)
    return Decimal(lcm(x, y)) / scale
