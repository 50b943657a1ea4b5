"""The domain: sides, quotes, orders, fills, positions and a symbol's trading rules.

Everything here is venue-neutral and `Decimal`. Each venue client maps its wire format to
these types; nothing outside `adapters/` knows a wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"  # rests until the mark price reaches its trigger, then a market


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book on one venue. `at` is `time.monotonic()` when it was received."""

    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    at: float

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    def exit_price(self, position_side: Side) -> Decimal:
        """The price a position closes at: a long sells at the bid, a short buys at the ask."""
        return self.bid if position_side is Side.BUY else self.ask


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The exchange's filters for one symbol (tick, step, minimum quantity and notional)."""

    symbol: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None = None

    def price_toward(self, price: Decimal, side: Side) -> Decimal:
        """Round a limit price to the tick, never to a worse price for `side`:
        a buy rounds down, a sell rounds up."""
        return floor_to(price, self.tick) if side is Side.BUY else ceil_to(price, self.tick)

    def refusal(self, qty: Decimal, price: Decimal) -> str | None:
        """Why this venue would refuse `qty` at `price`, or None if it accepts it."""
        if qty % self.step != 0:
            return f"{self.symbol}: quantity {qty} is not a multiple of step {self.step}"
        if qty < self.min_qty:
            return f"{self.symbol}: quantity {qty} is below the minimum {self.min_qty}"
        if self.max_qty is not None and qty > self.max_qty:
            return f"{self.symbol}: quantity {qty} is above the maximum {self.max_qty}"
        if qty * price < self.min_notional:
            return (
                f"{self.symbol}: notional {qty * price} ({qty} x {price}) "
                f"is below the minimum {self.min_notional}"
            )
        return None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None = None
    reduce_only: bool = False
    post_only: bool = False
    trigger_price: Decimal | None = None  # STOP_MARKET: fires when the mark price reaches it


@dataclass(frozen=True, slots=True)
class Fill:
    venue: str
    symbol: str
    client_id: str
    trade_id: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal  # in the quote asset; negative for a rebate
    maker: bool = False
    at: datetime | None = None  # the venue's trade time, where it gives one


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the venue says about one of our orders."""

    client_id: str
    venue_order_id: str
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    price: Decimal | None = None
    reduce_only: bool = False
    trigger_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Net position on one symbol: qty > 0 long, < 0 short."""

    venue: str
    symbol: str
    qty: Decimal
    entry_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement on our position, as the venue recorded it.

    `payment_id` is the venue's own id for the record where it has one (Aster's income
    `tranId`); where it has none (Backpack's funding history) the client builds one from the
    record's fields that identify it (symbol and settlement time), stable across reads.
    `amount` is in the quote currency: positive received, negative paid."""

    venue: str
    payment_id: str
    symbol: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class FundingInfo:
    """A symbol's current funding: the rate of the next settlement (per interval, as a
    fraction: 0.0001 is 0.01 %), the interval in hours, when it settles, and the mark price
    where the venue gives it. A long pays `rate x notional` when the rate is positive."""

    symbol: str
    rate: Decimal
    interval_hours: Decimal
    next_at: datetime
    mark_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class FundingShare:
    """A round's part of a funding payment: the payment, the amount attributed to the round
    and the quantity of the round's leg it was attributed on."""

    payment: FundingPayment
    amount: Decimal
    share_qty: Decimal
