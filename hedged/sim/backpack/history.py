"""Backpack's position history, replayed from an account's fills: each position from the fill
that opened it to the one that left it flat (or flipped it), with the funding it paid."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hedged.model import ZERO
from hedged.sim.backpack.shapes import Json, dec, naive_utc
from hedged.sim.backpack.state import BackpackState, position_id
from hedged.sim.records import SimFill, SimPosition


@dataclass
class Life:
    """One position between flat and flat."""

    symbol: str
    opened_at: float
    position: SimPosition
    closed_at: float | None = None
    exit_price: Decimal | None = None
    peak: Decimal = ZERO  # the largest size held
    fills: list[SimFill] = field(default_factory=list)


def lives(venue: BackpackState, account: str) -> list[Life]:
    """The account's positions, oldest first."""
    done: list[Life] = []
    current: dict[str, Life] = {}
    for fill in venue.ids.fills:
        if fill.account != account:
            continue
        life = current.get(fill.symbol)
        if life is None:
            life = current[fill.symbol] = Life(
                fill.symbol, fill.at, SimPosition(account, fill.symbol)
            )
        before = life.position.qty
        life.position, _ = life.position.after_fill(fill.side, fill.qty, fill.price)
        life.fills.append(fill)
        life.peak = max(life.peak, abs(life.position.qty))
        after = life.position.qty
        if after == 0 or (before != 0 and (after > 0) != (before > 0)):
            life.closed_at, life.exit_price = fill.at, fill.price
            done.append(current.pop(fill.symbol))
            if after != 0:  # flipped: the rest opens a new position at this fill
                flipped = SimPosition(account, fill.symbol, after, fill.price)
                current[fill.symbol] = Life(fill.symbol, fill.at, flipped, peak=abs(after))
    return sorted([*done, *current.values()], key=lambda life: life.opened_at)


def funding_paid(venue: BackpackState, account: str, life: Life) -> Decimal:
    """The funding this position received (> 0) or paid, while it was open."""
    end = life.closed_at if life.closed_at is not None else float("inf")
    payments = venue.exchange.funding_payments(account, life.symbol)
    return sum((p.amount for p in payments if life.opened_at <= p.at <= end), ZERO)


def funding_since_open(venue: BackpackState, account: str, symbol: str) -> Decimal:
    """The open position's funding so far (0 when flat)."""
    if not venue.exchange.funding_payments(account, symbol):
        return ZERO  # nothing paid: no need to replay the fills
    open_lives = [
        life for life in lives(venue, account) if life.symbol == symbol and life.closed_at is None
    ]
    return funding_paid(venue, account, open_lives[-1]) if open_lives else ZERO


def position_lives(venue: BackpackState, account: str) -> list[Json]:
    rows: list[Json] = []
    for life in lives(venue, account):
        position, closed = life.position, life.closed_at is not None
        entry = _entry(life)
        rows.append(
            {
                "positionId": str(position_id(account, f"{life.symbol}/{life.opened_at}")),
                "symbol": life.symbol,
                "netQuantity": dec(ZERO if closed else position.qty),
                "netExposureQuantity": dec(life.peak),
                "entryPrice": dec(entry),
                "exitPrice": dec(life.exit_price) if life.exit_price is not None else None,
                "pnlRealized": dec(position.realized_pnl),
                "cumulativeFundingPayment": dec(funding_paid(venue, account, life)),
                "state": "Closed" if closed else "Open",
                "openedAt": naive_utc(life.opened_at),
                "closedAt": naive_utc(life.closed_at) if life.closed_at is not None else None,
            }
        )
    return rows


def _entry(life: Life) -> Decimal:
    """The average price of the fills that built the position (before any reduction)."""
    opening = life.fills[0].side if life.fills else None
    built = [f for f in life.fills if f.side is opening]
    qty = sum((f.qty for f in built), ZERO)
    if not qty:
        return life.position.entry_price or ZERO
    return sum((f.qty * f.price for f in built), ZERO) / qty
