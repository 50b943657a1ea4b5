"""The simulator's records: markets, books, orders, fills, positions, and refusals.

Records are immutable: the exchange replaces one when it changes. `to_json` and `from_json`
turn any record into a JSON-ready dict (Decimals as strings) and back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_type_hints

from hedged.model import ZERO, OrderStatus, OrderType, Side, SymbolRules

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


class RejectCode(StrEnum):
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    BAD_STEP = "BAD_STEP"
    MIN_QTY = "MIN_QTY"
    MAX_QTY = "MAX_QTY"
    BAD_PRICE = "BAD_PRICE"
    BAD_TICK = "BAD_TICK"
    NO_BOOK = "NO_BOOK"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    POST_ONLY_CROSS = "POST_ONLY_CROSS"
    WOULD_TRIGGER = "WOULD_TRIGGER"  # a stop whose trigger the mark price has already passed
    REDUCE_ONLY = "REDUCE_ONLY"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    ORDER_CLOSED = "ORDER_CLOSED"


class PriceSource(StrEnum):
    """The price a trigger order watches."""

    MARK = "mark"
    LAST = "last"  # the last trade, kept within the book (other traders trade at the touch)
    INDEX = "index"


@dataclass(frozen=True, slots=True)
class TriggerTerms:
    """What a trigger order adds to its trigger price. A stop fires when the price moves
    against a position the order would close (a buy at or above the trigger, a sell at or
    below); a take-profit fires the other way. `position_share` (Aster's closePosition: 1,
    Backpack's `triggerQuantity` "50%": 0.5) sizes the order from the position when it fires."""

    source: PriceSource = PriceSource.MARK
    take_profit: bool = False
    position_share: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """The fault injection's say on a trigger order as it fires: refused outright, or its
    market order capped at `fill_fraction` of its quantity (the rest expires)."""

    refused: bool = False
    fill_fraction: Decimal | None = None


class OrderRefused(Exception):
    """The exchange refused a request; nothing changed."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One symbol's filters and fees. `depth_qty` caps what one taker order can fill
    (None: unlimited); the rest of a market order expires."""

    symbol: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    min_notional: Decimal
    max_qty: Decimal | None = None
    taker_fee: Decimal = ZERO
    maker_fee: Decimal = ZERO
    depth_qty: Decimal | None = None
    fee_places: int | None = None  # decimals a fee is charged (and reported) to; None: exact

    @property
    def rules(self) -> SymbolRules:
        return SymbolRules(
            self.symbol, self.tick, self.step, self.min_qty, self.min_notional, self.max_qty
        )


@dataclass(frozen=True, slots=True)
class Book:
    """Top of book."""

    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        """The simulators' mark price: the middle of the book."""
        return (self.bid + self.ask) / 2

    def touch(self, side: Side) -> Decimal:
        """Where a taker order trades: a buy lifts the ask, a sell hits the bid."""
        return self.ask if side is Side.BUY else self.bid


def crosses(side: Side, limit: Decimal | None, book: Book) -> bool:
    """Whether a limit order at `limit` would take liquidity (no limit: a market order)."""
    if limit is None:
        return True
    return book.ask <= limit if side is Side.BUY else book.bid >= limit


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What a new order asks, as both simulators read it from their venue's order body (each
    venue's own terms are in its subclass): `price` for a limit order only, `reduce_only` as
    sent, `trigger` for an order that waits for a price."""

    symbol: str
    side: Side
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    trigger: TriggerTerms | None

    def fills_at_once(self, qty: Decimal, book: Book | None, *caps: Decimal | None) -> bool:
        """Whether all of `qty` would trade against `book` at once, within every cap given
        (what a fill-or-kill order needs)."""
        if book is None or not crosses(self.side, self.price, book):
            return False
        return min((cap for cap in caps if cap is not None), default=qty) >= qty


@dataclass(frozen=True, slots=True)
class SimOrder:
    order_id: str
    account: str
    client_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    reduce_only: bool
    post_only: bool
    status: OrderStatus
    created_at: float
    updated_at: float
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO  # sum of qty x price over the fills, for the average price
    trigger_price: Decimal | None = None  # STOP_MARKET: rests until its price reaches it
    trigger_by: PriceSource = PriceSource.MARK
    take_profit: bool = False
    position_share: Decimal | None = None  # see TriggerTerms; qty is 0 until it fires
    triggered_at: float | None = None  # when the trigger fired and the order became a market

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_qty if self.filled_qty else None

    @property
    def is_open(self) -> bool:
        return not self.status.terminal

    @property
    def waiting(self) -> bool:
        """A trigger order that has not fired yet."""
        return self.type is OrderType.STOP_MARKET and self.triggered_at is None

    def crosses(self, book: Book) -> bool:
        """Whether this order would trade against `book` right now (a stop only once fired)."""
        if self.type is OrderType.STOP_MARKET:
            return False
        return self.type is OrderType.MARKET or crosses(self.side, self.price, book)

    def fires(self, price: Decimal) -> bool:
        """Whether a waiting trigger order's trigger is reached by `price` (of its source)."""
        if not self.waiting or self.trigger_price is None:
            return False
        return reached(self.side, self.take_profit, self.trigger_price, price)


def reached(side: Side, take_profit: bool, trigger: Decimal, price: Decimal) -> bool:
    """A stop buys at or above its trigger and sells at or below; a take-profit the reverse."""
    direction = -side.sign if take_profit else side.sign
    return (price - trigger) * direction >= 0


@dataclass(frozen=True, slots=True)
class SimFill:
    trade_id: str
    order_id: str
    account: str
    client_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    maker: bool
    realized_pnl: Decimal
    at: float

    @property
    def buyer_is_maker(self) -> bool:
        """Whether the buying side rested: a maker buy, or a taker sell (the book bought)."""
        return self.maker == (self.side is Side.BUY)


@dataclass(frozen=True, slots=True)
class SimPosition:
    """Net position: qty > 0 long, < 0 short; `realized_pnl` is the running total, before fees."""

    account: str
    symbol: str
    qty: Decimal = ZERO
    entry_price: Decimal | None = None
    realized_pnl: Decimal = ZERO

    def reducible(self, side: Side) -> Decimal:
        """How much an order on `side` can reduce this position (0 if it would not reduce it)."""
        return max(ZERO, -self.qty * side.sign)

    def after_fill(self, side: Side, qty: Decimal, price: Decimal) -> tuple[SimPosition, Decimal]:
        """This position after a trade, and the PnL that trade realized."""
        signed = qty * side.sign
        new_qty = self.qty + signed
        entry = self.entry_price or ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            average = (abs(self.qty) * entry + qty * price) / abs(new_qty)
            return replace(self, qty=new_qty, entry_price=average), ZERO
        direction = 1 if self.qty > 0 else -1
        realized = min(qty, abs(self.qty)) * (price - entry) * direction
        if new_qty == 0:
            new_entry: Decimal | None = None
        elif (new_qty > 0) == (self.qty > 0):
            new_entry = self.entry_price
        else:
            new_entry = price
        total = self.realized_pnl + realized
        return replace(self, qty=new_qty, entry_price=new_entry, realized_pnl=total), realized


def to_json(record: DataclassInstance) -> dict[str, Any]:
    return {field.name: _encode(getattr(record, field.name)) for field in fields(record)}


def from_json(cls: type[R], data: dict[str, Any]) -> R:
    hints = get_type_hints(cls)
    return cls(**{name: _decode(hints[name], value) for name, value in data.items()})


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    for kind in get_args(hint) or (hint,):
        if kind is Decimal:
            return Decimal(value)
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(value)
    return value
