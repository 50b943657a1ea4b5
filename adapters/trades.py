"""Our trades as both venues list them: one row a trade, the same fields under each venue's
names. A venue's wire module names its keys and words (`TradeKeys`) and reads what it writes
its own way (the fee, the time); the rest is read here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hedged.adapters import fields
from hedged.model import Fill, Side


@dataclass(frozen=True, slots=True)
class TradeKeys:
    """Where a venue's trade row keeps a fill's id, quantity and maker flag, and its words for
    a side (`symbol`, `price` and `side` are the same key on both)."""

    trade_id: str
    qty: str
    maker: str
    sides: Mapping[str, Side]


def read_fill(
    row: fields.Json,
    keys: TradeKeys,
    *,
    venue: str,
    client_id: str,
    fee: Decimal,
    at: datetime | None,
) -> Fill:
    """The fill `row` records for our order `client_id`; `fee` is in the quote asset."""
    return Fill(
        venue=venue,
        symbol=fields.text(row, "symbol"),
        client_id=client_id,
        trade_id=fields.ident(row, keys.trade_id),
        side=fields.lookup(keys.sides, row.get("side"), "side"),
        qty=fields.dec(row, keys.qty),
        price=fields.dec(row, "price"),
        fee=fee,
        maker=fields.flag(row, keys.maker),
        at=at,
    )
