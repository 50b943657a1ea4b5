"""How a round ended, read from its orders and fills as the venues reported them (never from
the log): which order closed the leg that stayed open longest, and whether its fills made
liquidity (a maker fee) or took it (a taker fee). `bench/exits.py` counts these with and
without the adaptive take-profit (docs/architecture.md#a-take-profit-that-adapts).

The leg stopped out first is the one with a filled STOP order (or, with none, a fired
backstop); the other leg survives, and the last of its exit orders that filled (by creation)
is the one that ended the round. A CLOSE order is the market close of CLOSING: created at or
after the round's time limit it is the time limit's; created before it, after a leg was
stopped, it is the survivor's second stop (the daemon closes the survivor through CLOSING).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from hedged.model import ZERO
from hedged.states.context import BACKSTOP, CLOSE, STOP, TAKE_PROFIT
from hedged.store import FillRow, OrderRow, RoundRow

EXIT_PURPOSES = frozenset({STOP, TAKE_PROFIT, CLOSE, BACKSTOP})


class Ending(StrEnum):
    TAKE_PROFIT_MAKER = "take_profit_maker"  # the resting take-profit filled
    TAKE_PROFIT_TAKER = "take_profit_taker"  # a take-profit placed beyond the touch took
    MAKER_AT_TOUCH = "maker_at_touch"  # the post-only exit at the touch filled
    STOP_LOSS = "stop_loss"  # the survivor's second stop, or its backstop
    TIME_LIMIT = "time_limit"  # the survivor closed at market at the time limit
    TIME_LIMIT_BOTH = "time_limit_both"  # no leg was stopped: both closed at market
    OTHER_CLOSE = "other_close"  # closed at market before the time limit, no leg stopped
    OPEN = "open"  # not closed (yet): no exit filled on a leg that survived


MAKER_ENDINGS = frozenset({Ending.TAKE_PROFIT_MAKER, Ending.MAKER_AT_TOUCH})


@dataclass(frozen=True, slots=True)
class RoundEnd:
    ending: Ending
    maker: bool  # every fill of the order that ended the round made liquidity
    exit_volume: Decimal  # of every exit order's fills (both legs), in the quote asset
    maker_exit_volume: Decimal


def _filled(orders: Iterable[OrderRow], purposes: Iterable[str]) -> list[OrderRow]:
    wanted = set(purposes)
    return sorted(
        (o for o in orders if o.purpose in wanted and o.filled_qty > 0), key=lambda o: o.id or 0
    )


def _loser(orders: Sequence[OrderRow]) -> str | None:
    """The venue of the leg stopped out first: its STOP order's, else a fired backstop's."""
    for purpose in (STOP, BACKSTOP):
        filled = _filled(orders, [purpose])
        if filled:
            return filled[0].venue
    return None


def _market_close(round_: RoundRow, order: OrderRow, stopped: bool) -> Ending:
    at_limit = round_.deadline_at is not None and order.created_at >= round_.deadline_at
    if at_limit:
        return Ending.TIME_LIMIT if stopped else Ending.TIME_LIMIT_BOTH
    return Ending.STOP_LOSS if stopped else Ending.OTHER_CLOSE


def ending_of(round_: RoundRow, orders: Sequence[OrderRow], fills: Sequence[FillRow]) -> RoundEnd:
    """How the round ended, from its orders and their fills."""
    by_order: dict[int, list[FillRow]] = {}
    for f in fills:
        by_order.setdefault(f.order_id, []).append(f)
    exit_fills = [f for o in _filled(orders, EXIT_PURPOSES) for f in by_order.get(o.id or 0, [])]
    volume = sum((f.qty * f.price for f in exit_fills), ZERO)
    maker_volume = sum((f.qty * f.price for f in exit_fills if f.maker), ZERO)
    loser = _loser(orders)
    exits = [o for o in _filled(orders, EXIT_PURPOSES) if o.venue != loser]
    if not exits:
        return RoundEnd(Ending.OPEN, False, volume, maker_volume)
    last = exits[-1]
    own = by_order.get(last.id or 0, [])
    maker = bool(own) and all(f.maker for f in own)
    if last.purpose == TAKE_PROFIT:
        if last.post_only:
            ending = Ending.MAKER_AT_TOUCH
        else:
            ending = Ending.TAKE_PROFIT_MAKER if maker else Ending.TAKE_PROFIT_TAKER
    elif last.purpose in (STOP, BACKSTOP):
        ending = Ending.STOP_LOSS
    else:
        ending = _market_close(round_, last, stopped=loser is not None)
    return RoundEnd(ending, maker, volume, maker_volume)
