"""What a state's step sees and does: the round, its orders and legs, prices, the order desk.

A step is a decision over persisted facts plus orders sent through the desk, written so that
running it again after a crash at any point sends nothing twice.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from math import lcm
from typing import Any

from hedged.adapters.base import UNHEARD
from hedged.config import StrategyConfig
from hedged.funding import FundingCollector
from hedged.legs import Leg, legs_of, symbol_of
from hedged.model import OrderType, Quote, Side, SymbolRules
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
BACKSTOP = "BACKSTOP"  # a reduce-only stop resting on the leg's venue (states/backstop.py)

# A refused order is sent again (a new order, after a growing pause: 0.5 s, 1 s, 2 s, ...);
# refused this often, the venue is telling us something we cannot explain.
MAX_REFUSALS = 5


@dataclass(frozen=True, slots=True)
class Move:
    """A step's decision: fire `trigger`, record `reason` and any round fields."""

    trigger: Trigger
    reason: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Derived:
    """A round's legs and live orders, as of what they follow from: the round's direction and
    symbols, its orders (the rows, in order) and the store's count of order writes (a write
    changes a row in place). Kept by the engine from one step of the round to the next: a
    stop step finds them derived already."""

    round: tuple[str, str, str]  # short venue, Aster symbol, Backpack symbol
    orders: list[OrderRow]
    writes: int
    legs: Mapping[str, Leg]
    live: tuple[OrderRow, ...]
    # the orders (all, or the live ones) of a purpose and venue, as `RoundContext` picks them
    picked: dict[tuple[bool, str | None, str | None], tuple[OrderRow, ...]] = field(
        default_factory=dict
    )

    def pick(self, live: bool, purpose: str | None, venue: str | None) -> tuple[OrderRow, ...]:
        found = self.picked.get((live, purpose, venue))
        if found is None:
            found = self.picked[live, purpose, venue] = tuple(
                o
                for o in (self.live if live else self.orders)
                if purpose in (None, o.purpose) and venue in (None, o.venue)
            )
        return found

    @classmethod
    def of(cls, round_: RoundRow, orders: list[OrderRow], writes: int) -> Derived:
        live = tuple(o for o in orders if not o.terminal)
        return cls(_legs_key(round_), orders, writes, legs_of(round_, orders), live)

    def holds(self, round_: RoundRow, orders: list[OrderRow], writes: int) -> bool:
        return (
            self.writes == writes
            and self.round == _legs_key(round_)
            and len(self.orders) == len(orders)
            and all(map(operator.is_, self.orders, orders))
        )


def _legs_key(round_: RoundRow) -> tuple[str, str, str]:
    """What of the round its legs follow from (its row is read afresh now and then)."""
    return (round_.short_venue, round_.aster_symbol, round_.backpack_symbol)


@dataclass
class RoundContext:
    round: RoundRow
    orders: list[OrderRow]
    strategy: StrategyConfig
    rules: Mapping[str, SymbolRules]  # by venue
    prices: PriceBook
    desk: OrderDesk
    store: Store
    funding: FundingCollector
    now: datetime
    poll_due: bool = False  # the slow timer fired: re-read resting orders
    # the round's Derived facts by round id, kept across steps by whoever makes the contexts
    derived: MutableMapping[int, Derived] = field(default_factory=dict, repr=False)
    # this context's last facts, as of (order writes, orders list, round row): a step asks
    # for them a dozen times, and each check against `derived` reads the round's columns
    _last: tuple[int, list[OrderRow], RoundRow, Derived] | None = field(
        default=None, init=False, repr=False
    )

    @property
    def id(self) -> int:
        assert self.round.id is not None
        return self.round.id

    def _facts(self) -> Derived:
        """What follows from the orders, derived once per change of them rather than on every
        access (a step reads the legs and the live orders several times before deciding)."""
        writes = self.store.order_writes
        last = self._last
        if last and last[0] == writes and last[1] is self.orders and last[2] is self.round:
            return last[3]
        kept = self.derived.get(self.id)
        if kept is None or not kept.holds(self.round, self.orders, writes):
            kept = self.derived[self.id] = Derived.of(self.round, self.orders, writes)
        self._last = (writes, self.orders, self.round, kept)
        return kept

    @property
    def legs(self) -> Mapping[str, Leg]:
        return self._facts().legs

    @property
    def log_fields(self) -> dict[str, Any]:
        """Structured log fields (journald's ROUND_ID, ROUND_STATE)."""
        return {"round_id": self.id, "state": self.round.state}

    def reload(self) -> None:
        self.orders = self.store.orders_of(self.id)

    def of(self, purpose: str, venue: str | None = None) -> list[OrderRow]:
        return list(self._facts().pick(False, purpose, venue))

    def live(self, purpose: str | None = None, venue: str | None = None) -> list[OrderRow]:
        return list(self._facts().pick(True, purpose, venue))

    def may_send(self, purpose: str, venue: str) -> bool | Move:
        """After refusals of `purpose` on `venue`: False while backing off, True when it may
        be sent again, a HALT once the venue refused it MAX_REFUSALS times."""
        refused = [o for o in self.of(purpose, venue) if o.status == "REJECTED"]
        if not refused:
            return True
        last = refused[-1]
        # What the client held back or the venue refused unread says nothing; nor does a
        # post-only order the touch crossed on its way (the maker exit follows a moving touch).
        by_venue = [o for o in refused if o.reject_code not in UNHEARD and not o.post_only]
        if len(by_venue) >= MAX_REFUSALS:
            return Move(
                Trigger.HALT,
                f"{venue} refused {purpose.lower()} {len(by_venue)} times, last "
                f"{last.client_id}: {last.reject_code} {last.reject_message}",
            )
        pause = 0.5 * 2 ** min(len(refused) - 1, 5)
        return self.since(last.updated_at) >= timedelta(seconds=pause)

    def since(self, at: datetime) -> timedelta:
        """How long ago `at` was. A time over a second in the future (the wall clock stepped
        back since it was stored) counts as long past: no wait stretches until the clock
        catches up; one stored a moment after this step's `now` counts as just now."""
        elapsed = self.now - at
        if elapsed < -timedelta(seconds=1):
            return timedelta.max
        return max(elapsed, timedelta(0))

    def quote(self, venue: str) -> Quote | None:
        return self.prices.fresh(venue, symbol_of(self.round, venue))

    def update_round(self, **fields: Any) -> None:
        self.round = self.store.update_round(self.id, **fields)

    @property
    def deadline_passed(self) -> bool:
        return self.round.deadline_at is not None and self.now >= self.round.deadline_at

    async def submit(self, intents: Sequence[Intent], **round_fields: Any) -> list[OrderRow]:
        """Commit the intents (and `round_fields`, in the same transaction), then send. A
        market order records the touch it was decided on (its slippage is measured from it)."""
        intents = [self._decided(i) for i in intents]
        rows = await self.desk.submit(self.id, intents, round_fields)
        for k, v in round_fields.items():
            setattr(self.round, k, v)
        self.reload()
        return rows

    def _decided(self, intent: Intent) -> Intent:
        quote = self.prices.fresh(intent.venue, intent.symbol)
        if intent.type is not OrderType.MARKET or intent.decision_price or quote is None:
            return intent
        touch = quote.ask if intent.side is Side.BUY else quote.bid
        return replace(intent, decision_price=touch)

    async def refresh_live(self, purpose: str | None = None) -> None:
        for o in self.live(purpose):
            await self.desk.refresh(o)
        self.reload()

    def close_intent(self, leg: Leg, purpose: str) -> Intent:
        """A reduce-only market order that takes `leg` flat."""
        return Intent(leg.venue, leg.symbol, leg.side.opposite, leg.qty, purpose, reduce_only=True)


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
