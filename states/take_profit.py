"""The survivor's take-profit in LIMIT_SET: where it should rest now, and when a resting one is
re-priced (docs/architecture.md#a-take-profit-that-adapts).

By default it rests at entry x (1 +/- take_profit) until it fills. Two options make it adapt,
so that more rounds end as maker exits, and sooner:

- `take_profit_decay_to`: the target fraction moves linearly from `take_profit` to it over
  the rest of the round (from the first take-profit to the time limit), re-priced at most
  every `reprice_seconds`;
- `exit_as_maker_seconds`: that long before the time limit the exit becomes a post-only limit
  at the touch (a sell at the ask, a buy at the bid), re-priced as the touch moves (at most
  every second); at the limit CLOSING closes what is left at market.

A re-price is a cancel (read back: a fill that beat it counts) and then a new take-profit,
both write-ahead like every order: never two take-profits live at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hedged.legs import Leg
from hedged.model import OrderType, Side
from hedged.orders import Intent
from hedged.states.context import TAKE_PROFIT, RoundContext
from hedged.store import OrderRow

MAKER_REPRICE = timedelta(seconds=1)  # the touch moves often: follow it, but not faster
PROGRESS_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Target:
    price: Decimal
    post_only: bool = False


def adaptive(ctx: RoundContext) -> bool:
    s = ctx.strategy
    return s.take_profit_decay_to is not None or s.exit_as_maker_seconds > 0


def maker_phase(ctx: RoundContext) -> bool:
    seconds, deadline = ctx.strategy.exit_as_maker_seconds, ctx.round.deadline_at
    if not seconds or deadline is None:
        return False
    return ctx.now >= deadline - timedelta(seconds=seconds)


def target(ctx: RoundContext, leg: Leg) -> Target:
    """Where the survivor's take-profit should rest now."""
    assert leg.entry_price is not None
    side = leg.side.opposite
    quote = ctx.quote(leg.venue)
    if maker_phase(ctx) and quote is not None:
        return Target(quote.bid if side is Side.BUY else quote.ask, post_only=True)
    s = ctx.strategy
    fraction = s.take_profit
    if s.take_profit_decay_to is not None and ctx.round.deadline_at is not None:
        first = ctx.of(TAKE_PROFIT)
        since = first[0].created_at if first else ctx.now
        span = (ctx.round.deadline_at - since).total_seconds()
        done = ctx.since(since).total_seconds() / span if span > 0 else 1.0
        progress = Decimal(min(max(done, 0.0), 1.0)).quantize(PROGRESS_PLACES)
        fraction -= (s.take_profit - s.take_profit_decay_to) * progress
    price = leg.entry_price * (1 + fraction * leg.side.sign)
    return Target(ctx.rules[leg.venue].price_toward(price, side))


def intent(ctx: RoundContext, leg: Leg, where: Target) -> Intent:
    return Intent(
        leg.venue,
        leg.symbol,
        leg.side.opposite,
        leg.qty,
        TAKE_PROFIT,
        OrderType.LIMIT,
        where.price,
        reduce_only=True,
        post_only=where.post_only,
    )


def due(ctx: RoundContext, resting: OrderRow, where: Target) -> bool:
    """Whether the resting take-profit should give way to one at `where`: it is elsewhere,
    and it has rested long enough (the maker phase begins at once)."""
    if resting.unresolved or (resting.price, resting.post_only) == (where.price, where.post_only):
        return False
    if where.post_only:  # at once when the maker phase begins, then following the touch
        return not resting.post_only or ctx.since(resting.created_at) >= MAKER_REPRICE
    every = timedelta(seconds=float(ctx.strategy.reprice_seconds))
    return ctx.since(resting.created_at) >= every
