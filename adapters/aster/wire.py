"""Aster JSON <-> the venue port's models, the error-code table, and the classification of a
state-changing call's reply into Accepted / Rejected / Ambiguous (docs/venues/aster.md#errors).

JSON numbers are parsed as Decimal (floats) or int, never float; amounts arrive as strings
and go through `dec`. Every parser raises WireError (a VenueError) on anything it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from hedged.adapters import fields
from hedged.adapters.base import Ambiguous, Outcome, Rejected, SymbolNotListed
from hedged.adapters.errors import WireError
from hedged.adapters.outcomes import answered_order
from hedged.adapters.trades import TradeKeys, read_fill
from hedged.model import (
    ZERO,
    Fill,
    FundingInfo,
    FundingPayment,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    SymbolRules,
)


class UnknownSymbol(WireError, SymbolNotListed):
    venue = "aster"


TRADE = TradeKeys(trade_id="id", qty="qty", maker="maker", sides={s.value: s for s in Side})


# --- error codes ---------------------------------------------------------------------------

# A reply with one of these codes (and a 4xx status) is a definite refusal: the venue did
# not act and will not act on this request.
REJECT_CODES: Mapping[int, str] = {
    # Refused at the gate before any processing: 4xx means the sender's side, only 5xx
    # leaves the execution status unknown (docs/venues/aster.md#errors).
    -1003: "TOO_MANY_REQUESTS",
    -1015: "TOO_MANY_ORDERS",
    # Authentication: the request never got past the signature / window check.
    -1021: "INVALID_TIMESTAMP",
    -1022: "INVALID_SIGNATURE",
    -2014: "BAD_API_KEY_FMT",
    -2015: "REJECTED_MBX_KEY",
    # Malformed requests.
    -1100: "ILLEGAL_CHARS",
    -1101: "TOO_MANY_PARAMETERS",
    -1102: "MANDATORY_PARAM_EMPTY_OR_MALFORMED",
    -1103: "UNKNOWN_PARAM",
    -1104: "UNREAD_PARAMETERS",
    -1105: "PARAM_EMPTY",
    -1106: "PARAM_NOT_REQUIRED",
    -1111: "BAD_PRECISION",
    -1115: "INVALID_TIMEINFORCE",
    -1116: "INVALID_ORDER_TYPE",
    -1117: "INVALID_SIDE",
    -1121: "BAD_SYMBOL",
    -1130: "INVALID_PARAMETER",
    -1131: "BAD_RECV_WINDOW",
    # Business refusals.
    -2010: "NEW_ORDER_REJECTED",
    -2011: "CANCEL_REJECTED",
    -2013: "NO_SUCH_ORDER",
    -2018: "BALANCE_NOT_SUFFICIENT",
    -2019: "MARGIN_NOT_SUFFICIENT",
    -2020: "UNABLE_TO_FILL",
    -2021: "ORDER_WOULD_IMMEDIATELY_TRIGGER",
    -2022: "REDUCE_ONLY_REJECT",
    -2024: "POSITION_NOT_SUFFICIENT",
    -2025: "MAX_OPEN_ORDER_EXCEEDED",
    -4045: "MAX_NUM_ALGO_ORDERS",  # "Reach max stop order limit." (per symbol)
    -4001: "PRICE_LESS_THAN_ZERO",
    -4003: "QTY_LESS_THAN_ZERO",
    -4004: "QTY_LESS_THAN_MIN_QTY",
    -4005: "QTY_GREATER_THAN_MAX_QTY",
    -4013: "PRICE_LESS_THAN_MIN_PRICE",
    -4014: "PRICE_NOT_INCREASED_BY_TICK_SIZE",
    -4015: "INVALID_CL_ORD_ID_LEN",
    -4016: "PRICE_HIGHER_THAN_MULTIPLIER_UP",
    -4023: "QTY_NOT_INCREASED_BY_STEP_SIZE",
    -4024: "PRICE_LOWER_THAN_MULTIPLIER_DOWN",
    -4061: "POSITION_SIDE_NOT_MATCH",
    -4062: "INVALID_OR_IMPROPER_REDUCE_ONLY",
    # Another order holds this client id: *this* request did nothing (we never resend).
    -4116: "DUPLICATED_CLIENT_ORDER_ID",
    -4118: "REDUCE_ONLY_ORDER_FAILED",
    -4131: "MARKET_ORDER_REJECT",
    -4164: "MIN_NOTIONAL",
    -5022: "GTX_ORDER_REJECT",
    -5060: "PERCENT_PRICE",
    -5076: "MIN_ORDER_VALUE",
}

# Codes that say the venue may have acted. Any code in neither table is treated the same way.
AMBIGUOUS_CODES: Mapping[int, str] = {
    -1000: "UNKNOWN",
    -1001: "DISCONNECTED",
    -1006: "UNEXPECTED_RESP",
    -1007: "TIMEOUT",
    # "Nonce Expired" is also the answer to a *duplicate* nonce: we never reuse one, so a
    # duplicate is a replay of this very request, whose first copy may have been executed.
    -4225: "NONCE_EXPIRED",
}

CLOCK_SKEW = -1021
NO_SUCH_ORDER = -2013
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
INVALID_LISTEN_KEY = -1125
MAX_MESSAGE = 200


# --- scalars -------------------------------------------------------------------------------


def fmt(value: Decimal) -> str:
    """A Decimal as a plain decimal string (never exponent notation)."""
    return format(value, "f")


def venue_error(value: object) -> tuple[int, str] | None:
    """(code, msg) when `value` is Aster's error body `{"code": <negative int>, "msg": ...}`."""
    if not isinstance(value, dict):
        return None
    code, msg = value.get("code"), value.get("msg", "")
    if isinstance(code, bool) or not isinstance(code, int) or code >= 0:
        return None
    return code, str(msg)[:MAX_MESSAGE]


# --- orders --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OrderKeys:
    """Where an order's fields are: REST replies and stream events name them differently."""

    what: str
    client_id: str
    order_id: str
    symbol: str
    side: str
    status: str
    qty: str
    filled: str
    average: str
    price: str
    stop: str
    reduce_only: str


_REST = _OrderKeys(
    "order", "clientOrderId", "orderId", "symbol", "side", "status", "origQty", "executedQty",
    "avgPrice", "price", "stopPrice", "reduceOnly",
)  # fmt: skip
_STREAM = _OrderKeys(
    "ORDER_TRADE_UPDATE", "c", "i", "s", "S", "X", "q", "z", "ap", "p", "sp", "R"
)  # fmt: skip


def _order(obj: fields.Json, k: _OrderKeys, kind: object) -> OrderState:
    qty = fields.dec(obj, k.qty)
    filled = fields.dec(obj, k.filled, "0")
    average = fields.dec(obj, k.average, "0")
    price = fields.dec(obj, k.price, "0")
    stop = fields.dec(obj, k.stop, "0")
    if qty <= 0 or not ZERO <= filled <= qty or min(average, price, stop) < 0:
        raise WireError(f"{k.what}: quantities or prices out of range")
    return OrderState(
        client_id=fields.text(obj, k.client_id),
        venue_order_id=fields.ident(obj, k.order_id),
        symbol=fields.text(obj, k.symbol),
        side=fields.member(Side, obj.get(k.side), k.side),
        type=fields.member(OrderType, kind, "type"),
        status=fields.member(OrderStatus, obj.get(k.status), k.status),
        qty=qty,
        filled_qty=filled,
        avg_price=average if average > 0 else None,
        price=price if price > 0 else None,
        reduce_only=fields.flag(obj, k.reduce_only),
        trigger_price=stop if stop > 0 else None,
    )


def order_state(value: object) -> OrderState:
    """The order object of new/query/cancel/openOrders replies."""
    obj = fields.obj(value, "order")
    return _order(obj, _REST, obj.get("type"))


def order_update(event: object) -> OrderState | None:
    """The order in an ORDER_TRADE_UPDATE event; None for other events and for orders of
    other types than ours (liquidations, ADL, take-profit or trailing orders). A fired stop
    reports `o` MARKET and its original type in `ot`."""
    if not isinstance(event, dict) or event.get("e") != "ORDER_TRADE_UPDATE":
        return None
    o = fields.obj(event.get("o"), "ORDER_TRADE_UPDATE.o")
    kind = o.get("ot") or o.get("o")
    if kind not in tuple(OrderType) or o.get("X") not in tuple(OrderStatus):
        return None
    return _order(o, _STREAM, kind)


def open_orders(value: object) -> list[OrderState]:
    """Orders of the types we place (MARKET, LIMIT, STOP_MARKET); others (take-profit and
    trailing orders) are none of ours."""
    return [
        order_state(row)
        for row in fields.array(value, "openOrders")
        if fields.obj(row, "openOrders[]").get("type") in tuple(OrderType)
    ]


def classify_write(status: int, body: bytes, client_id: str, symbol: str) -> Outcome:
    """The outcome of a new-order or cancel reply. Total: never raises."""
    if 200 <= status < 300:
        return answered_order(status, body, order_state, client_id, symbol)
    if status >= 500:
        # 503 is "execution status UNKNOWN"; any 5xx may follow an execution.
        return Ambiguous(f"HTTP {status}: execution status unknown")
    try:
        error = venue_error(fields.decode(body))
    except WireError:
        error = None
    if error is None:
        return Ambiguous(f"HTTP {status} without an Aster error body")
    code, msg = error
    if status >= 400 and code in REJECT_CODES:
        return Rejected(str(code), msg)
    return Ambiguous(f"HTTP {status} code {code} ({AMBIGUOUS_CODES.get(code, 'unmapped')}): {msg}")


# --- market data and account ----------------------------------------------------------------


def symbol_rules(info: object, symbol: str) -> SymbolRules:
    """SymbolRules from exchangeInfo: tick from PRICE_FILTER; step, min and max quantity that
    satisfy both LOT_SIZE and MARKET_LOT_SIZE; min notional from MIN_NOTIONAL."""
    symbols = fields.array(fields.obj(info, "exchangeInfo").get("symbols"), "exchangeInfo.symbols")
    entries = (fields.obj(s, "symbol") for s in symbols)
    entry = next((s for s in entries if s.get("symbol") == symbol), None)
    if entry is None:
        raise UnknownSymbol(f"exchangeInfo has no symbol {symbol}")
    filters = {
        fields.obj(f, "filter").get("filterType"): fields.obj(f, "filter")
        for f in fields.array(entry.get("filters"), "filters")
    }
    price = filters.get("PRICE_FILTER")
    lots = [f for f in (filters.get("LOT_SIZE"), filters.get("MARKET_LOT_SIZE")) if f is not None]
    if price is None or not lots:
        raise WireError(f"{symbol}: exchangeInfo lacks PRICE_FILTER or LOT_SIZE")
    tick = fields.dec(price, "tickSize")
    steps = [s for s in (fields.dec(f, "stepSize") for f in lots) if s > 0]
    if tick <= 0 or not steps:
        raise WireError(f"{symbol}: tickSize and stepSize must be positive")
    # Where the two lot filters differ, the coarser step and the tighter bounds fit both.
    step = max(steps)
    min_qty = max([step, *(fields.dec(f, "minQty", "0") for f in lots)])
    max_qtys = [q for q in (fields.dec(f, "maxQty", "0") for f in lots) if q > 0]
    notional = filters.get("MIN_NOTIONAL", {})
    min_notional = fields.decimal(
        notional.get("notional", notional.get("minNotional", "0")), "notional"
    )
    return SymbolRules(
        symbol=symbol,
        tick=tick,
        step=step,
        min_qty=min_qty,
        min_notional=min_notional,
        max_qty=min(max_qtys) if max_qtys else None,
    )


def book_quote(venue: str, value: object, at: float) -> Quote:
    """A Quote from REST ticker/bookTicker (`bidPrice`) or the `@bookTicker` stream (`b`)."""
    obj = fields.obj(value, "bookTicker")
    if "b" in obj:
        bid, ask = fields.dec(obj, "b"), fields.dec(obj, "a")
    else:
        bid, ask = (
            fields.dec(obj, "bidPrice"),
            fields.dec(obj, "askPrice"),
        )
    if bid <= 0 or ask <= 0 or bid > ask:
        raise WireError("bookTicker: no two-sided book")
    name = fields.text(obj, "s" if "s" in obj else "symbol")
    return Quote(venue=venue, symbol=name, bid=bid, ask=ask, at=at)


def position(venue: str, symbol: str, rows: object) -> Position:
    """The net of every positionRisk row of `symbol` (BOTH, or LONG and SHORT in hedge mode;
    a short's positionAmt is negative)."""
    every = (fields.obj(r, "position") for r in fields.array(rows, "positionRisk"))
    mine = [r for r in every if r.get("symbol") == symbol]
    amounts = [(fields.dec(r, "positionAmt"), r) for r in mine]
    net = sum((qty for qty, _ in amounts), ZERO)
    open_rows = [(qty, r) for qty, r in amounts if qty != 0]
    entry: Decimal | None = None
    if len(open_rows) == 1:
        price = fields.decimal(open_rows[0][1].get("entryPrice", "0"), "entryPrice")
        entry = price if price > 0 else None
    return Position(venue=venue, symbol=symbol, qty=net, entry_price=entry)


def fills(venue: str, client_id: str, order_id: str, rows: object) -> list[Fill]:
    """userTrades rows of one order; `commission` is the fee (negative for a rebate)."""
    out: list[Fill] = []
    for raw in fields.array(rows, "userTrades"):
        row = fields.obj(raw, "trade")
        if fields.ident(row, "orderId") != order_id:
            continue
        fee = fields.dec(row, "commission", "0")
        at = _moment(row, "time") if "time" in row else None
        out.append(read_fill(row, TRADE, venue=venue, client_id=client_id, fee=fee, at=at))
    return out


def trade_ids(rows: object) -> list[int]:
    return [
        int(fields.ident(fields.obj(r, "trade"), "id")) for r in fields.array(rows, "userTrades")
    ]


def order_time_ms(value: object) -> int | None:
    """When the order was created (query replies carry `time`)."""
    t = fields.obj(value, "order").get("time", fields.obj(value, "order").get("updateTime"))
    return t if isinstance(t, int) and not isinstance(t, bool) and t > 0 else None


def server_time_ms(value: object) -> int:
    t = fields.obj(value, "time").get("serverTime")
    if isinstance(t, bool) or not isinstance(t, int) or t <= 0:
        raise WireError("serverTime: expected milliseconds")
    return t


def dual_side(value: object) -> bool:
    flag = fields.obj(value, "positionSide/dual").get("dualSidePosition")
    if isinstance(flag, bool):
        return flag
    if flag in ("true", "false"):
        return bool(flag == "true")
    raise WireError("dualSidePosition: expected a boolean")


def listen_key(value: object) -> str:
    return fields.text(fields.obj(value, "listenKey"), "listenKey")


def stream_payload(value: object) -> object:
    """Unwrap a combined-stream frame `{"stream": ..., "data": {...}}`."""
    if isinstance(value, dict) and "stream" in value and "data" in value:
        return value["data"]
    return value


def _moment(o: fields.Json, key: str) -> datetime:
    """A time the venue writes in milliseconds since the epoch."""
    value = o.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WireError(f"{key}: expected milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC)


def funding_payments(venue: str, symbol: str, rows: object) -> tuple[int, list[FundingPayment]]:
    """(rows on the page, the FUNDING_FEE rows of `symbol`) of an income page; `tranId` is the
    payment's id, `income` its amount (+ received, - paid)."""
    items = fields.array(rows, "income")
    out = []
    for raw in items:
        row = fields.obj(raw, "income")
        if row.get("incomeType") != "FUNDING_FEE" or row.get("symbol") != symbol:
            continue
        payment_id, amount = fields.ident(row, "tranId"), fields.dec(row, "income")
        out.append(FundingPayment(venue, payment_id, symbol, amount, _moment(row, "time")))
    return len(items), out


def income_times(rows: object) -> list[int]:
    return [t for r in fields.array(rows, "income") if isinstance(t := r.get("time"), int)]


def funding_info(symbol: str, premium: object, intervals: object) -> FundingInfo:
    """From premiumIndex (`lastFundingRate`, `nextFundingTime`, `markPrice`) and fundingInfo
    (`fundingIntervalHours`, a whole number on the venue; a decimal string is read too)."""
    index = fields.obj(premium, "premiumIndex")
    if index.get("symbol") != symbol:
        raise WireError(f"premiumIndex: asked for {symbol}, got {index.get('symbol')!r}")
    mine = [
        fields.obj(r, "fundingInfo")
        for r in fields.array(intervals, "fundingInfo")
        if isinstance(r, dict) and r.get("symbol") == symbol
    ]
    if not mine:
        raise WireError(f"fundingInfo: no row for {symbol}")
    hours = fields.dec(mine[0], "fundingIntervalHours")
    if hours <= 0:
        raise WireError("fundingIntervalHours: must be positive")
    mark = fields.opt_dec(index, "markPrice")
    return FundingInfo(
        symbol=symbol,
        rate=fields.dec(index, "lastFundingRate"),
        interval_hours=hours,
        next_at=_moment(index, "nextFundingTime"),
        mark_price=mark if mark else None,
    )
