"""Backpack's WebSocket payloads (docs/venues/backpack.md#streams): the `data` of each
`{"stream", "data"}` frame.
`E` and `T` are microseconds; `n` in markPrice is milliseconds."""

from __future__ import annotations

from decimal import Decimal

from hedged.model import OrderStatus, OrderType, Side
from hedged.sim.backpack.ids import OrderMeta
from hedged.sim.backpack.shapes import (
    IMF,
    MMF,
    ORDER_TYPES,
    SIDES,
    TRIGGER_BY,
    Json,
    dec,
    expiry_reason,
    quote_asset,
    status_of,
    unrealized_pnl,
    us,
)
from hedged.sim.funding import FundingView
from hedged.sim.records import Book, SimFill, SimOrder, SimPosition

ORDER_UPDATE = "account.orderUpdate"
POSITION_UPDATE = "account.positionUpdate"


def order_event_kind(order: SimOrder, fill: SimFill | None, meta: OrderMeta) -> str:
    if fill is not None:
        return "orderFill"
    status = status_of(order, meta)
    if status == "TriggerFailed":
        return "triggerFailed"
    if order.status is OrderStatus.NEW:  # accepted, or its trigger fired (one change each)
        return "orderAccepted" if order.triggered_at is None else "triggerPlaced"
    if status == "Expired":
        return "orderExpired"
    if status == "Cancelled":
        return "orderCancelled"
    return "orderModified"


def order_update(order: SimOrder, fill: SimFill | None, meta: OrderMeta, event_us: int) -> Json:
    kind = order_event_kind(order, fill, meta)
    data: Json = {
        "e": kind,
        "E": event_us,
        "s": order.symbol,
        "i": order.order_id,
        "S": SIDES[order.side],
        "o": ORDER_TYPES[order.type].upper(),  # UPPERCASE on the stream, unlike REST
        "f": meta.time_in_force,
        "q": dec(order.qty),
        "X": status_of(order, meta),
        "z": dec(order.filled_qty),
        "Z": dec(order.filled_notional),
        "V": meta.self_trade_prevention,
        "r": order.reduce_only,
        "y": order.post_only,
        "O": "USER",
        "T": us(order.updated_at),
        "t": None,
    }
    if order.type is OrderType.LIMIT and order.price is not None:
        data["p"] = dec(order.price)
    if meta.quote_quantity is not None:
        data["Q"] = dec(meta.quote_quantity)
    if order.trigger_price is not None:
        data["P"] = dec(order.trigger_price)
        data["B"] = TRIGGER_BY[order.trigger_by]
        data["Y"] = meta.trigger_quantity
    if meta.client_id is not None:
        data["c"] = meta.client_id
    if fill is not None:
        data["t"] = int(fill.trade_id)
        data["l"] = dec(fill.qty)
        data["L"] = dec(fill.price)
        data["m"] = fill.maker
        data["n"] = dec(fill.fee)
        data["N"] = quote_asset(fill.symbol)
    if kind == "orderExpired":
        data["R"] = expiry_reason(order, meta)
    return data


def position_event_kind(previous_qty: Decimal, qty: Decimal) -> str:
    if previous_qty == 0:
        return "positionOpened"
    return "positionClosed" if qty == 0 else "positionAdjusted"


def position_update(
    position: SimPosition, mark: Decimal, position_id: int, event_us: int, kind: str | None
) -> Json:
    """`kind` None: the snapshot sent on subscribe, which carries no `e`."""
    entry = dec(position.entry_price) if position.entry_price is not None else "0"
    data: Json = {
        "E": event_us,
        "s": position.symbol,
        "b": entry,
        "B": entry,
        "f": dec(IMF),
        "M": dec(mark),
        "m": dec(MMF),
        "q": dec(position.qty),
        "Q": dec(abs(position.qty)),
        "n": dec(abs(position.qty) * mark),
        "i": position_id,
        "p": dec(position.realized_pnl),
        "P": dec(unrealized_pnl(position, mark)),
        "l": "0",
        "T": event_us,
    }
    if kind is not None:
        data["e"] = kind
    return data


def book_ticker(symbol: str, book: Book, qty: Decimal, update_id: int, event_us: int) -> Json:
    return {
        "e": "bookTicker",
        "E": event_us,
        "s": symbol,
        "a": dec(book.ask),
        "A": dec(qty),
        "b": dec(book.bid),
        "B": dec(qty),
        "u": update_id,
        "T": event_us,
    }


def mark_price(
    symbol: str, mark: Decimal, index: Decimal, funding: FundingView, event_us: int
) -> Json:
    return {
        "e": "markPrice",
        "E": event_us,
        "s": symbol,
        "p": dec(mark),
        "f": dec(funding.rate),
        "i": dec(index),
        "n": int(funding.next_at * 1000),
        "T": event_us,
    }


def trade(fill: SimFill, event_us: int) -> Json:
    """A public trade; the simulated book has no counterparty order, so its id is null."""
    ours = fill.order_id
    buy = fill.side is Side.BUY
    return {
        "e": "trade",
        "E": event_us,
        "s": fill.symbol,
        "p": dec(fill.price),
        "q": dec(fill.qty),
        "b": ours if buy else None,
        "a": None if buy else ours,
        "t": int(fill.trade_id),
        "T": us(fill.at),
        "m": fill.maker if buy else not fill.maker,
    }
