"""The venue port: what a hedge round needs from a perpetual-futures venue.

Everything here is venue-neutral and `Decimal`. Each venue client maps its wire format to
these types; nothing outside `adapters/` knows a wire format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Protocol

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

    def qty_down(self, qty: Decimal) -> Decimal:
        return floor_to(qty, self.step)

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


@dataclass(frozen=True, slots=True)
class Position:
    """Net position on one symbol: qty > 0 long, < 0 short."""

    venue: str
    symbol: str
    qty: Decimal
    entry_price: Decimal | None = None


# Outcomes of a state-changing call (docs/architecture.md#classifying-answers).


@dataclass(frozen=True, slots=True)
class Accepted:
    order: OrderState


# Rejected.code when the client itself declined to send (e.g. during a rate-limit back-off):
# nothing reached the venue, so it says nothing about the venue's state.
NOT_SENT = "NOT_SENT"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A definite refusal: the venue did not and will not act on this request."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """We cannot know whether the venue acted (timeout, reset, 5xx, garbage body).
    Never resend: resolve by querying the client id."""

    reason: str


Outcome = Accepted | Rejected | Ambiguous


class VenueError(Exception):
    """A read failed (transport or venue trouble); the caller may retry later."""


class CredentialsRefused(VenueError):
    """The venue refused our key or signature: retrying cannot help, the keys must change."""

    venue = ""


class SymbolNotListed(VenueError):
    """The venue does not list the symbol asked for."""

    venue = ""


# Called with the name of a stream that reconnected; streams do not replay what was missed.
ReconnectHook = Callable[[str], Awaitable[None] | None]
# Whether this daemon may still send orders (it holds the book's lease).
MaySend = Callable[[], bool]


def always() -> bool:
    return True


class Venue(Protocol):
    """The calls a round needs. Implementations: the in-process simulator and the real
    Aster and Backpack clients."""

    name: str
    # A signed request older than this can no longer be accepted, in seconds
    # (docs/architecture.md#the-signature-window).
    signature_window: float

    def client_id(self, namespace: int, seq: int) -> str:
        """The venue's client order id for our order number `seq` of installation `namespace`."""
        ...

    def owns(self, namespace: int, client_id: str) -> bool:
        """Whether `client_id` was made by `client_id(namespace, ...)`."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def rules(self, symbol: str) -> SymbolRules: ...

    async def quote(self, symbol: str) -> Quote:
        """A fresh top of book over request/response (the fallback when the stream is stale)."""
        ...

    def quotes(self, symbol: str) -> AsyncIterator[Quote]:
        """Top-of-book updates as they arrive; reconnects by itself."""
        ...

    async def place(self, order: OrderRequest) -> Outcome: ...

    async def cancel(self, symbol: str, client_id: str) -> Outcome: ...

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        """The order by client id, open or finished; None when the venue does not know it.
        Raises VenueError when the venue cannot be asked."""
        ...

    async def open_orders(self, symbol: str) -> list[OrderState]: ...

    async def position(self, symbol: str) -> Position:
        """The net position on `symbol` (qty 0 when flat)."""
        ...

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        """Every trade of the order with this client id, with fees."""
        ...

    def order_updates(self) -> AsyncIterator[OrderState]:
        """Our orders' changes as the venue pushes them; reconnects by itself."""
        ...

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Call `hook` after any stream reconnected, so the caller can catch up by REST."""
        ...

    def fence(self, may_send: MaySend) -> None:
        """Send an order or a cancel only if `may_send()`, asked after the request is signed
        and just before it is written: a request held up past that point carries a timestamp
        from before the hold, and the venue's signature window refuses it."""
        ...
