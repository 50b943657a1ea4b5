"""Backpack JSON <-> the venue port's types, and the table that classifies error answers.

Every parser raises `WireError` (never anything else) on a body that does not have the
documented shape (docs/venues/backpack.md), so callers turn that into `VenueError` (reads) or
`Ambiguous` (writes). Money is `Decimal`, parsed from the JSON strings the venue sends.

Outcome of a state-changing call (docs/venues/backpack.md#errors), decided by `classify_write`:

- 2xx with a parseable Order for our clientId and symbol -> Accepted (any status).
- 4xx (except 408, 429) with a JSON error whose code is in `DEFINITE_CODES` -> Rejected.
  `INVALID_CLIENT_REQUEST` is definite for every message, "Request has expired", "Invalid
  signature" and other timestamp/auth problems included: the venue checks them before the
  order reaches the engine, and a refused signature can never become valid later.
- 400 with Backpack's plain-text "parse request payload error" -> Rejected (the body could
  not be read, so nothing could be acted on).
- Everything else -> Ambiguous: timeouts, resets, truncated bodies, 1xx/3xx, 408, 429 (the
  documentation confirms neither its body nor that it is answered before the engine; a wrong
  Rejected could leave an order we do not know about, a wrong Ambiguous costs one query),
  any 5xx whatever its code, 2xx that is not our order, non-JSON bodies, unknown codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hedged.adapters import fields
from hedged.adapters.backpack.signing import render_value
from hedged.adapters.base import Ambiguous, Outcome, Rejected
from hedged.adapters.errors import WireError
from hedged.adapters.outcomes import answered_order
from hedged.adapters.trades import TradeKeys, read_fill
from hedged.ids import UINT32_LIMIT
from hedged.model import (
    ZERO,
    Fill,
    FundingInfo,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    SymbolRules,
)

Param = str | int | bool
Params = dict[str, Param]

SIDES = {"Bid": Side.BUY, "Ask": Side.SELL}
WIRE_SIDES = {side: wire for wire, side in SIDES.items()}
TRADE = TradeKeys(trade_id="tradeId", qty="quantity", maker="isMaker", sides=SIDES)
ORDER_TYPES = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT}  # REST Market, WS MARKET
# a stop is a Market order with a trigger
WIRE_ORDER_TYPES = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP_MARKET: "Market",
}
# A trigger order (our backstop) waits as TriggerPending; one that fired and could not be
# placed ends TriggerFailed.
STATUSES = {
    "New": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,
    "Expired": OrderStatus.EXPIRED,
    "TriggerPending": OrderStatus.NEW,
    "Triggered": OrderStatus.NEW,
    "TriggerFailed": OrderStatus.REJECTED,
}

# Error codes that mean: the venue refused and will not act on this request.
DEFINITE_CODES = frozenset(
    {
        "INVALID_ORDER",
        "INVALID_CLIENT_REQUEST",
        "INVALID_SIGNATURE",
        "INVALID_QUANTITY",
        "INVALID_PRICE",
        "INVALID_MARKET",
        "INVALID_SYMBOL",
        "INSUFFICIENT_FUNDS",
        "INSUFFICIENT_MARGIN",
        "ORDER_LIMIT",
        "POSITION_LIMIT",
        "MAX_LEVERAGE_REACHED",
        "ACCOUNT_DEACTIVATED",
        "ACCOUNT_LIQUIDATING",
        "TRADING_PAUSED",
        "PRECONDITION_FAILED",
        "RESOURCE_NOT_FOUND",
        "UNAUTHORIZED",
        "FORBIDDEN",
    }
)
# Codes that say the outcome is unknown; listed for the record, unknown codes behave alike.
AMBIGUOUS_CODES = frozenset(
    {"SERVER_ERROR", "TIMEOUT", "TOO_MANY_REQUESTS", "MAINTENANCE", "TOO_EARLY"}
)
PAYLOAD_ERROR = "parse request payload error"
NOT_FOUND_CODE = "RESOURCE_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str
    message: str


# -- decoding ------------------------------------------------------------------------------


def wire_client_id(client_id: str) -> int:
    """The uint32 sent as `clientId`; ValueError for anything else."""
    if not client_id.isascii() or not client_id.isdigit() or int(client_id) >= UINT32_LIMIT:
        raise ValueError(f"Backpack clientId must be a uint32, got {client_id!r}")
    return int(client_id)


def _client_id(value: Any) -> str | None:
    """`clientId`: a uint32, a number in orders and a string in fills."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WireError("clientId: expected a uint32")
    try:
        return str(wire_client_id(str(value)))
    except ValueError:
        raise WireError("clientId: expected a uint32") from None


def _has(item: Any, key: str, value: str) -> bool:
    """Whether a list item is about our order; other items (anyone's, any shape) are skipped
    unread, so an odd foreign entry cannot hide ours."""
    return isinstance(item, dict) and str(item.get(key)) == value


# -- orders --------------------------------------------------------------------------------


def _order_state(
    *,
    client_id: str | None,
    venue_id: str,
    symbol: str,
    side: Any,
    order_type: Any,
    status: Any,
    qty: Decimal | None,
    filled: Decimal,
    filled_quote: Decimal | None,
    price: Decimal | None,
    reduce_only: bool,
    trigger_price: Decimal | None,
) -> OrderState:
    if filled < 0 or (filled_quote is not None and filled_quote < 0):
        raise WireError("executed quantity: negative")
    avg = filled_quote / filled if filled > 0 and filled_quote is not None else None
    kind = fields.lookup(
        ORDER_TYPES, order_type.upper() if isinstance(order_type, str) else None, "orderType"
    )
    return OrderState(
        client_id=client_id or "",
        venue_order_id=venue_id,
        symbol=symbol,
        side=fields.lookup(SIDES, side, "side"),
        # a market order with a trigger price is a stop
        type=OrderType.STOP_MARKET if kind is OrderType.MARKET and trigger_price else kind,
        status=fields.lookup(STATUSES, status, "status"),
        qty=qty if qty is not None else filled,
        filled_qty=filled,
        avg_price=avg,
        price=price,
        reduce_only=reduce_only,
        trigger_price=trigger_price,
    )


def parse_order(body: Any) -> OrderState:
    """A REST Order (live or history item); `client_id` is "" when it has none."""
    o = fields.obj(body, "order")
    return _order_state(
        client_id=_client_id(o.get("clientId")),
        venue_id=fields.ident(o, "id"),
        symbol=fields.text(o, "symbol"),
        side=o.get("side"),
        order_type=o.get("orderType"),
        status=o.get("status"),
        qty=fields.opt_dec(o, "quantity"),
        filled=fields.dec(o, "executedQuantity"),
        filled_quote=fields.opt_dec(o, "executedQuoteQuantity"),
        price=fields.opt_dec(o, "price"),
        reduce_only=fields.flag(o, "reduceOnly"),
        trigger_price=fields.opt_dec(o, "triggerPrice"),
    )


def parse_orders(body: Any) -> list[OrderState]:
    return [parse_order(item) for item in fields.array(body, "orders")]


def history_match(body: Any, client_id: str) -> tuple[int, OrderState | None]:
    """(items on the page, the newest order of the page with this clientId). A uint32 client
    id is only unique among open orders, so the history may hold older orders with it."""
    items = fields.array(body, "order history")
    best: tuple[str, int, OrderState] | None = None
    for item in items:
        if not _has(item, "clientId", client_id):
            continue
        o = fields.obj(item, "order")
        created = o.get("createdAt")
        key = str(created) if isinstance(created, str | int) else ""
        venue_id = fields.ident(o, "id")
        rank = int(venue_id) if venue_id.isdigit() else 0
        if best is None or (key, rank) > (best[0], best[1]):
            best = (key, rank, parse_order(o))
    return len(items), best[2] if best else None


def parse_order_update(data: Any) -> OrderState | None:
    """An `account.orderUpdate` payload; None for an order without a clientId."""
    d = fields.obj(data, "orderUpdate")
    client_id = _client_id(d.get("c"))
    if client_id is None:
        return None
    return _order_state(
        client_id=client_id,
        venue_id=fields.ident(d, "i"),
        symbol=fields.text(d, "s"),
        side=d.get("S"),
        order_type=d.get("o"),
        status=d.get("X"),
        qty=fields.opt_dec(d, "q"),
        filled=fields.dec(d, "z"),
        filled_quote=fields.opt_dec(d, "Z"),
        price=fields.opt_dec(d, "p"),
        reduce_only=fields.flag(d, "r"),
        trigger_price=fields.opt_dec(d, "P"),
    )


def plain(value: Decimal) -> str:
    """A decimal as Backpack reads it: fixed-point, without trailing zeros ("0.50" -> "0.5")."""
    return render_value(value.normalize()) if value else "0"


def order_params(order: OrderRequest) -> Params:
    """The `orderExecute` body; ValueError if the request cannot be sent. False flags are
    left out (the venue's default), so a plain market order signs like the test vector
    (docs/venues/backpack.md#test-vectors)."""
    if not order.qty.is_finite() or order.qty <= 0:
        raise ValueError(f"quantity must be positive, got {order.qty}")
    params: Params = {
        "symbol": order.symbol,
        "side": WIRE_SIDES[order.side],
        "orderType": WIRE_ORDER_TYPES[order.type],
        "quantity": plain(order.qty),
        "clientId": wire_client_id(order.client_id),
    }
    if order.type is OrderType.LIMIT:
        if order.price is None or not order.price.is_finite() or order.price <= 0:
            raise ValueError(f"a limit order needs a positive price, got {order.price}")
        params["price"] = plain(order.price)
        params["timeInForce"] = "GTC"
        if order.post_only:
            params["postOnly"] = True
    if order.type is OrderType.STOP_MARKET:
        trigger = order.trigger_price
        if trigger is None or not trigger.is_finite() or trigger <= 0:
            raise ValueError(f"a stop order needs a positive trigger price, got {trigger}")
        params["triggerPrice"] = plain(trigger)
        params["triggerQuantity"] = plain(order.qty)
        params["triggerBy"] = "MarkPrice"  # as the daemon's own stops are judged
    if order.reduce_only:
        params["reduceOnly"] = True
    return params


# -- market data, positions, fills ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Market:
    rules: SymbolRules
    market_type: str
    base: str
    quote: str
    funding_interval_ms: int | None = None  # perpetuals only


def parse_market(body: Any, default_min_notional: Decimal) -> Market:
    """A Market (`/api/v1/market`). Backpack publishes no minimum notional; a `minNotional` in the
    quantity filter is used if one ever appears."""
    m = fields.obj(body, "market")
    filters = fields.obj(m.get("filters"), "filters")
    price = fields.obj(filters.get("price"), "filters.price")
    quantity = fields.obj(filters.get("quantity"), "filters.quantity")
    symbol = fields.text(m, "symbol")
    tick, step = fields.dec(price, "tickSize"), fields.dec(quantity, "stepSize")
    if tick <= 0 or step <= 0:
        raise WireError("tickSize/stepSize: must be positive")
    min_notional = fields.opt_dec(quantity, "minNotional")
    rules = SymbolRules(
        symbol=symbol,
        tick=tick,
        step=step,
        min_qty=fields.opt_dec(quantity, "minQuantity") or step,
        min_notional=default_min_notional if min_notional is None else min_notional,
        max_qty=fields.opt_dec(quantity, "maxQuantity"),
    )
    parts = symbol.split("_")
    return Market(
        rules=rules,
        market_type=fields.text(m, "marketType"),
        base=m["baseSymbol"] if isinstance(m.get("baseSymbol"), str) else parts[0],
        quote=m["quoteSymbol"] if isinstance(m.get("quoteSymbol"), str) else parts[-1],
        funding_interval_ms=_positive_int(m.get("fundingInterval"), "fundingInterval"),
    )


def _positive_int(value: Any, key: str) -> int | None:
    if value is None:
        return None
    number = fields.decimal(value, key)
    if number <= 0 or number != number.to_integral_value():
        raise WireError(f"{key}: expected a positive whole number")
    return int(number)


def _moment(value: Any, key: str) -> datetime:
    """A time written as milliseconds since the epoch or as a naive ISO time in UTC (the
    history endpoints' `2025-01-21T06:34:54.691858`)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise WireError(f"{key}: not a time: {fields.snippet(value)!r}") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise WireError(f"{key}: expected a time")


def funding_payment_id(symbol: str, at: datetime) -> str:
    """The funding history has no id: a payment is the account's one settlement of `symbol`
    at the interval's end, so the two make a stable one."""
    return f"{symbol}@{int(at.timestamp() * 1000)}"


def parse_funding_payments(body: Any, *, symbol: str, venue: str) -> list[FundingPayment]:
    """The page's payments of `symbol` (`/wapi/v1/history/funding`): `quantity` > 0 received,
    < 0 paid, in the quote asset."""
    out = []
    for item in fields.array(body, "funding"):
        f = fields.obj(item, "funding")
        if f.get("symbol") != symbol:
            continue
        at = _moment(f.get("intervalEndTimestamp"), "intervalEndTimestamp")
        amount = fields.dec(f, "quantity")
        out.append(FundingPayment(venue, funding_payment_id(symbol, at), symbol, amount, at))
    return out


def parse_funding_info(body: Any, symbol: str, interval_ms: int) -> FundingInfo:
    """From `/api/v1/markPrices` (an array even for one symbol) and the market's interval."""
    for item in fields.array(body, "markPrices"):
        m = fields.obj(item, "markPrice")
        if m.get("symbol") != symbol:
            continue
        return FundingInfo(
            symbol=symbol,
            rate=fields.dec(m, "fundingRate"),
            interval_hours=Decimal(interval_ms) / 3_600_000,
            next_at=_moment(m.get("nextFundingTimestamp"), "nextFundingTimestamp"),
            mark_price=fields.opt_dec(m, "markPrice"),
        )
    raise WireError(f"markPrices: no row for {symbol}")


def _levels(value: Any, key: str) -> list[Decimal]:
    prices = []
    for level in fields.array(value, key):
        if not isinstance(level, list) or len(level) < 2:
            raise WireError(f"{key}: expected [price, quantity] levels")
        if fields.decimal(level[1], key) > 0:
            prices.append(fields.decimal(level[0], key))
    return prices


def parse_depth(body: Any) -> tuple[Decimal, Decimal]:
    """(best bid, best ask) of `/depth`: the extremes, whichever order the venue lists them."""
    d = fields.obj(body, "depth")
    bids, asks = _levels(d.get("bids"), "bids"), _levels(d.get("asks"), "asks")
    if not bids or not asks:
        raise WireError("depth: a side of the book is empty")
    return max(bids), min(asks)


def parse_book_ticker(data: Any) -> tuple[str, Decimal, Decimal]:
    """(symbol, bid, ask) of a `bookTicker` payload."""
    d = fields.obj(data, "bookTicker")
    bid, ask = fields.dec(d, "b"), fields.dec(d, "a")
    if bid <= 0 or ask <= 0:
        raise WireError("bookTicker: non-positive price")
    return fields.text(d, "s"), bid, ask


def parse_position(body: Any, symbol: str) -> tuple[Decimal, Decimal | None]:
    """(net quantity, entry price) on `symbol`; (0, None) when it is not listed (flat)."""
    for item in fields.array(body, "positions"):
        p = fields.obj(item, "position")
        if p.get("symbol") != symbol:
            continue
        qty = fields.dec(p, "netQuantity")
        return qty, (fields.opt_dec(p, "entryPrice") if qty != 0 else None)
    return ZERO, None


def parse_fills(
    body: Any, *, order_id: str, client_id: str, base: str, quote: str, venue: str
) -> tuple[int, list[Fill]]:
    """(items on the page, the page's fills of `order_id`), fees converted to the quote asset."""
    items = fields.array(body, "fills")
    fills = []
    for item in items:
        if not _has(item, "orderId", order_id):
            continue
        f = fields.obj(item, "fill")
        price, fee = fields.dec(f, "price"), fields.dec(f, "fee")
        fee_asset = f.get("feeSymbol")
        if fee_asset == base:
            fee *= price
        elif fee_asset not in (quote, None):
            raise WireError(
                f"feeSymbol: cannot convert a fee in {fields.snippet(str(fee_asset))!r}"
            )
        at = _moment(f["timestamp"], "timestamp") if f.get("timestamp") else None
        fills.append(read_fill(f, TRADE, venue=venue, client_id=client_id, fee=fee, at=at))
    return len(items), fills


def parse_server_time(text: str) -> int:
    """`/api/v1/time`: milliseconds as text."""
    stripped = text.strip()
    if not stripped.isdigit() or len(stripped) > 16:
        raise WireError(f"time: expected milliseconds, got {fields.snippet(text)!r}")
    return int(stripped)


# -- errors and outcomes -------------------------------------------------------------------


def parse_error(text: str) -> ErrorBody | None:
    """`{"code", "message"}`, or None when the body is not such an object."""
    try:
        body = fields.decode(text)
    except WireError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return None
    message = body.get("message")
    return ErrorBody(body["code"], fields.snippet(message if isinstance(message, str) else ""))


def is_clock_error(error: ErrorBody | None) -> bool:
    """The venue refused our timestamp (stale, future or malformed): resync the clock."""
    if error is None:
        return False
    message = error.message.lower()
    return "expired" in message or "timestamp" in message


def is_auth_error(status: int, error: ErrorBody | None) -> bool:
    """The venue refused our key (401) or our signature."""
    return status == 401 or (error is not None and "signature" in error.message.lower())


def is_unknown_symbol(error: ErrorBody | None) -> bool:
    """The venue does not list the market asked for."""
    if error is None:
        return False
    return error.code == "INVALID_MARKET" or "market symbol" in error.message.lower()


def is_not_found(status: int, error: ErrorBody | None) -> bool:
    """The venue does not know the order (404 RESOURCE_NOT_FOUND; older servers answered
    INVALID_CLIENT_REQUEST "Order not found", docs/venues/backpack.md#errors)."""
    if error is None or not 400 <= status < 500:
        return False
    return error.code == NOT_FOUND_CODE or "order not found" in error.message.lower()


def classify_write(status: int, text: str, *, client_id: str, symbol: str) -> Outcome:
    """The outcome of an order placement or cancellation answered with `status` and `text`."""
    if 200 <= status < 300:
        return answered_order(status, text, parse_order, client_id, symbol)
    if 400 <= status < 500 and status not in (408, 429):
        error = parse_error(text)
        if error is not None and error.code in DEFINITE_CODES:
            return Rejected(error.code, error.message)
        if error is None and status == 400 and text.lstrip().startswith(PAYLOAD_ERROR):
            return Rejected("INVALID_CLIENT_REQUEST", fields.snippet(text))
    error = parse_error(text)
    detail = f"{error.code}: {error.message}" if error else fields.snippet(text) or "empty body"
    return Ambiguous(f"HTTP {status} ({detail})")
