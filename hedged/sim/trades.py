"""The public trade list both simulators serve: each simulated fill against the book is a
trade, written under the venue's keys and in its notation for amounts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedged.sim.records import SimFill


@dataclass(frozen=True, slots=True)
class TradeLayout:
    """A venue's keys for a public trade's quantity, quote quantity and time (milliseconds),
    and how it writes an amount (`id`, `price` and `isBuyerMaker` are the same on both)."""

    qty: str
    quote_qty: str
    time: str
    amount: Callable[[Decimal], str]

    def row(self, fill: SimFill) -> dict[str, Any]:
        return {
            "id": int(fill.trade_id),
            "price": self.amount(fill.price),
            self.qty: self.amount(fill.qty),
            self.quote_qty: self.amount(fill.qty * fill.price),
            self.time: int(fill.at * 1000),
            "isBuyerMaker": fill.buyer_is_maker,
        }
