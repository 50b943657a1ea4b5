"""What `hedgectl` shows about a round, computed from the store alone (the daemon may be down)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from hedged.adapters.base import Quote, Side
from hedged.legs import ASTER, BACKPACK, VENUES, legs_of, symbol_of
from hedged.store import QuoteRow, RoundRow, Store, utcnow

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class LegView:
    venue: str
    symbol: str
    side: str
    qty: Decimal
    entered: Decimal
    entry: Decimal | None
    price: Decimal | None  # exit-side price now (long: bid, short: ask)
    pnl_pct: Decimal | None


@dataclass(frozen=True, slots=True)
class RoundView:
    id: int
    pair: str
    state: str
    legs: list[LegView]
    hedge_pnl: Decimal | None  # realized when DONE, else realized so far + open legs at market
    realized_pnl: Decimal | None
    fees: Decimal | None
    spread_bps: Decimal | None  # Backpack mid over Aster mid
    age_seconds: int
    reason: str | None
    created_at: datetime
    ended_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _quote(row: QuoteRow | None, venue: str) -> Quote | None:
    return None if row is None else Quote(venue, row.symbol, row.bid, row.ask, 0.0)


def round_view(store: Store, r: RoundRow, quotes: dict[tuple[str, str], QuoteRow]) -> RoundView:
    assert r.id is not None
    orders = store.orders_of(r.id)
    legs = legs_of(r, orders)
    q = {v: _quote(quotes.get((v, symbol_of(r, v))), v) for v in VENUES}
    views = []
    # Cash from every fill so far, then the open legs valued at their exit price.
    cash = sum(
        (
            (f.qty * f.price) * (1 if f.side == Side.SELL.value else -1) - f.fee
            for f in store.fills_of(r.id)
        ),
        Decimal(0),
    )
    marked = True
    for v in VENUES:
        leg, quote = legs[v], q[v]
        price = quote.exit_price(leg.side) if quote else None
        pnl = leg.pnl_pct(quote) * 100 if quote and leg.is_open and leg.entry_price else None
        views.append(
            LegView(
                v, leg.symbol, leg.side.value, leg.qty, leg.entered, leg.entry_price, price, pnl
            )
        )
        if leg.is_open:
            if price is None:
                marked = False
            else:
                cash += leg.qty * price * leg.side.sign
    aster, backpack = q[ASTER], q[BACKPACK]
    spread = (backpack.mid - aster.mid) / aster.mid * BPS if aster and backpack else None
    end = r.ended_at or utcnow()
    return RoundView(
        id=r.id,
        pair=f"{r.aster_symbol}/{r.backpack_symbol}",
        state=r.state,
        legs=views,
        hedge_pnl=r.realized_pnl if r.state == "DONE" else (cash if marked else None),
        realized_pnl=r.realized_pnl,
        fees=r.fees,
        spread_bps=None if spread is None else spread.quantize(Decimal("0.01")),
        age_seconds=int((end - r.created_at).total_seconds()),
        reason=r.reason,
        created_at=r.created_at,
        ended_at=r.ended_at,
    )


def status(store: Store, recent: int = 10) -> list[RoundView]:
    """Every active round, then the most recent finished ones."""
    quotes = store.quotes()
    active = store.active_rounds()
    ids = {r.id for r in active}
    finished = [r for r in store.recent_rounds(recent + len(active)) if r.id not in ids]
    return [round_view(store, r, quotes) for r in active + finished[:recent]]
