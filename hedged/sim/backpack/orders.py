"""Order execution and cancellation as Backpack does them (docs/venues/backpack.md#orders), on
the core.

The core knows market and limit orders, reduce-only and post-only, and trigger orders; the wire
adds quote quantities, IOC/FOK (the unfilled rest of a limit order expires), uint32 client ids
that only have to be unique among open orders, and a market order's `triggerPrice`,
`triggerQuantity` (a quantity, or a percentage of the position when it fires) and `triggerBy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hedged.model import ZERO, OrderRequest, OrderType, Side, floor_to
from hedged.sim.backpack import shapes
from hedged.sim.backpack.errors import bad_request, duplicate_client_id, not_found, refusal_error
from hedged.sim.backpack.ids import OrderMeta
from hedged.sim.backpack.params import (
    Params,
    boolean,
    choice,
    decimal,
    required_text,
    uint32,
)
from hedged.sim.backpack.state import BackpackState
from hedged.sim.records import MarketSpec, OrderRefused, OrderTerms, SimOrder, TriggerTerms

SIDES = {"Bid": Side.BUY, "Ask": Side.SELL}
ORDER_TYPES = {"Market": OrderType.MARKET, "Limit": OrderType.LIMIT}
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
SELF_TRADE_PREVENTION = ("RejectTaker", "RejectMaker", "RejectBoth", "Allow")
EXPIRES_UNFILLED = {"IOC": "ImmediateOrCancel", "FOK": "FillOrKill"}
TRIGGER_BY = {name: source for source, name in shapes.TRIGGER_BY.items()}
DEFAULT_TRIGGER_BY = "MarkPrice"
CANCEL_KINDS = ("RestingLimitOrder", "ConditionalOrder")  # what `orderCancelAll` can select
UNSUPPORTED = (
    "takeProfitTriggerPrice",
    "takeProfitLimitPrice",
    "stopLossTriggerPrice",
    "stopLossLimitPrice",
)


@dataclass(frozen=True, slots=True)
class OrderPayload(OrderTerms):
    """A validated `orderExecute` body; `order_type` as sent (a trigger order is a Market one)."""

    order_type: OrderType
    quantity: Decimal | None
    quote_quantity: Decimal | None
    post_only: bool
    client_id: int | None
    self_trade_prevention: str
    trigger_price: Decimal | None = None
    trigger_quantity: str | None = None  # as sent: "1.5", or "50%" of the position


def parse_order(params: Params) -> OrderPayload:
    symbol = required_text(params, "symbol")
    side = SIDES[_required_choice(params, "side", tuple(SIDES))]
    order_type = ORDER_TYPES[_required_choice(params, "orderType", tuple(ORDER_TYPES))]
    for name in UNSUPPORTED:
        if name in params:
            raise bad_request(f"`{name}` is not supported by this simulator")
    quantity, quote_quantity = decimal(params, "quantity"), decimal(params, "quoteQuantity")
    price = decimal(params, "price")
    reduce_only = bool(boolean(params, "reduceOnly"))
    trigger_price, trigger, trigger_quantity = _trigger(params, order_type, reduce_only)
    if trigger is not None:
        quantity = _trigger_qty(quantity, quote_quantity, trigger, trigger_quantity)
    if order_type is OrderType.MARKET and (quantity is None) == (quote_quantity is None):
        raise bad_request("Market orders must specify a `quantity` or `quoteQuantity`")
    if order_type is OrderType.LIMIT and (quantity is None or price is None):
        raise bad_request("Limit orders must specify a `quantity` and a `price`")
    return OrderPayload(
        symbol=symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        quote_quantity=quote_quantity if order_type is OrderType.MARKET else None,
        price=price if order_type is OrderType.LIMIT else None,
        time_in_force=choice(params, "timeInForce", TIME_IN_FORCE, "GTC") or "GTC",
        post_only=bool(boolean(params, "postOnly")),
        reduce_only=reduce_only,
        client_id=uint32(params, "clientId", text=False),
        self_trade_prevention=choice(
            params, "selfTradePrevention", SELF_TRADE_PREVENTION, "RejectTaker"
        )
        or "RejectTaker",
        trigger_price=trigger_price,
        trigger=trigger,
        trigger_quantity=trigger_quantity,
    )


def _trigger(
    params: Params, order_type: OrderType, reduce_only: bool
) -> tuple[Decimal | None, TriggerTerms | None, str | None]:
    """(triggerPrice, what it watches and how the order is sized, triggerQuantity as sent)."""
    trigger_price, raw = decimal(params, "triggerPrice"), params.get("triggerQuantity")
    if (trigger_price is None) != (raw is None):
        raise bad_request("Must specify both `triggerPrice` and `triggerQuantity` or neither")
    by = choice(params, "triggerBy", tuple(TRIGGER_BY), None)
    if trigger_price is None:
        if by is not None:
            raise bad_request("`triggerBy` needs a `triggerPrice`")
        return None, None, None
    if order_type is not OrderType.MARKET:
        raise bad_request("this simulator serves `triggerPrice` on Market orders only")
    share = None
    if isinstance(raw, str) and raw.endswith("%"):
        percent = decimal({"triggerQuantity": raw[:-1]}, "triggerQuantity")
        if percent is None or not 0 < percent <= 100:
            raise bad_request("Invalid value for `triggerQuantity`")
        if not reduce_only:
            raise bad_request("A percentage `triggerQuantity` needs `reduceOnly`")
        share = percent / 100
    terms = TriggerTerms(TRIGGER_BY[by or DEFAULT_TRIGGER_BY], position_share=share)
    return trigger_price, terms, raw if isinstance(raw, str) else str(raw)


def _trigger_qty(
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    trigger: TriggerTerms,
    trigger_quantity: str | None,
) -> Decimal:
    """A trigger order's quantity is its `triggerQuantity` (0 while a percentage waits)."""
    if quote_quantity is not None:
        raise bad_request("`quoteQuantity` cannot be used with `triggerPrice`")
    if trigger.position_share is not None:
        return ZERO
    size = decimal({"triggerQuantity": trigger_quantity}, "triggerQuantity")
    if size is None or size <= 0:
        raise bad_request("Invalid value for `triggerQuantity`")
    if quantity is not None and quantity != size:
        raise bad_request("`quantity` and `triggerQuantity` differ")
    return size


def execute(
    venue: BackpackState, account: str, payload: OrderPayload, partial: Decimal | None
) -> SimOrder:
    """Place and match the order; `partial` (a PARTIAL fault) caps the taker fill at that
    fraction of the quantity."""
    market = venue.market(payload.symbol)
    client_id = payload.client_id
    if client_id is not None and find_open(venue, account, client_id=client_id) is not None:
        raise duplicate_client_id(client_id)
    qty = _quantity(venue, market, payload)
    max_fill = floor_to(qty * partial, market.step) if partial is not None else None
    book = venue.exchange.book(market.symbol)
    killed = (
        payload.time_in_force == "FOK"
        and payload.trigger is None
        and not payload.fills_at_once(qty, book, market.depth_qty, max_fill)
    )
    if killed:
        max_fill = ZERO  # accepted, then expired without a fill
    # A market order's unfilled rest expires anyway; IOC/FOK only change a limit order.
    limit = payload.order_type is OrderType.LIMIT
    expires = EXPIRES_UNFILLED.get(payload.time_in_force) if limit or killed else None
    meta = OrderMeta(
        client_id=client_id,
        time_in_force=payload.time_in_force,
        self_trade_prevention=payload.self_trade_prevention,
        quote_quantity=payload.quote_quantity,
        expiry_reason=expires,
        trigger_quantity=payload.trigger_quantity,
    )
    core_id = venue.ids.reserve(account, meta)
    request = OrderRequest(
        client_id=core_id,
        symbol=market.symbol,
        side=payload.side,
        type=payload.order_type if payload.trigger is None else OrderType.STOP_MARKET,
        qty=qty,
        price=payload.price,
        reduce_only=payload.reduce_only,
        post_only=payload.post_only,
        trigger_price=payload.trigger_price,
    )
    try:
        order = venue.exchange.place(account, request, max_fill=max_fill, trigger=payload.trigger)
    except OrderRefused as refused:
        venue.ids.release(account, core_id)
        raise refusal_error(refused, client_id) from None
    if order.is_open and expires is not None:
        order = venue.exchange.cancel(account, order.symbol, order_id=order.order_id)
    return order


def find_open(
    venue: BackpackState,
    account: str,
    symbol: str | None = None,
    *,
    order_id: str | None = None,
    client_id: int | None = None,
) -> SimOrder | None:
    """The account's resting order with this venue id or client id."""
    for order in venue.exchange.open_orders(account, symbol):
        if order_id is not None and order.order_id == order_id:
            return order
        if client_id is not None and venue.ids.meta(order).client_id == client_id:
            return order
    return None


def cancel(
    venue: BackpackState,
    account: str,
    symbol: str,
    *,
    order_id: str | None = None,
    client_id: int | None = None,
) -> SimOrder:
    market = venue.market(symbol)
    order = find_open(venue, account, market.symbol, order_id=order_id, client_id=client_id)
    if order is None:
        raise not_found()
    return venue.exchange.cancel(account, market.symbol, order_id=order.order_id)


def cancel_all(
    venue: BackpackState, account: str, symbol: str, kind: str | None = None
) -> list[SimOrder]:
    """Every open order, or (`kind`) only the resting limit or only the conditional ones."""
    market = venue.market(symbol)
    return [
        venue.exchange.cancel(account, market.symbol, order_id=order.order_id)
        for order in venue.exchange.open_orders(account, market.symbol)
        if kind is None or (kind == "ConditionalOrder") == order.waiting
    ]


def _required_choice(params: Params, name: str, allowed: tuple[str, ...]) -> str:
    value = choice(params, name, allowed, None)
    if value is None:
        raise bad_request(f"Missing required parameter `{name}`")
    return value


def _quantity(venue: BackpackState, market: MarketSpec, payload: OrderPayload) -> Decimal:
    """The order's quantity; a quote quantity buys (sells) what it pays for at the touch."""
    if payload.quantity is not None:
        return payload.quantity
    assert payload.quote_quantity is not None  # parse_order checked it
    touch = venue.book(market.symbol).touch(payload.side)
    return floor_to(payload.quote_quantity / touch, market.step)
