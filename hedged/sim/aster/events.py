"""Aster's WebSocket events (`e` = ORDER_TRADE_UPDATE, ACCOUNT_UPDATE, bookTicker,
markPriceUpdate, aggTrade), built from the core's records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedged.model import ZERO, Side
from hedged.sim.aster.shapes import (
    ASSET,
    OrderView,
    PositionRow,
    ms,
    num,
    placed_type,
    working_type,
)
from hedged.sim.records import Book, SimFill


def order_trade_update(view: OrderView, fill: SimFill | None, now: float) -> dict[str, Any]:
    """`o` is MARKET once a conditional order fired; `ot` keeps the type it was placed as."""
    order = view.order
    execution = "TRADE" if fill is not None else view.status
    body: dict[str, Any] = {
        "s": order.symbol,
        "c": order.client_id,
        "S": order.side.value,
        "o": "MARKET" if order.triggered_at is not None else placed_type(order),
        "f": view.time_in_force,
        "q": num(order.qty),
        "p": num(order.price or ZERO),
        "ap": num(order.avg_price or ZERO),
        "sp": num(order.trigger_price or ZERO),
        "x": execution,
        "X": view.status,
        "i": int(order.order_id),
        "l": num(fill.qty if fill else ZERO),
        "z": num(order.filled_qty),
        "L": num(fill.price if fill else ZERO),
        "T": ms(fill.at if fill else order.updated_at),
        "t": int(fill.trade_id) if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.maker if fill else False,
        "R": view.reduce_only,
        "wt": working_type(order),
        "ot": placed_type(order),
        "ps": view.position_side,
        "cp": order.position_share is not None,
        "rp": num(fill.realized_pnl if fill else ZERO),
    }
    if fill is not None:
        body["N"] = ASSET
        body["n"] = num(fill.fee)
    return {"e": "ORDER_TRADE_UPDATE", "E": ms(now), "T": body["T"], "o": body}


def account_update(
    balance: Decimal,
    row: PositionRow,
    now: float,
    *,
    reason: str = "ORDER",
    change: Decimal = ZERO,
) -> dict[str, Any]:
    """`reason` FUNDING_FEE with `change` the payment: what a funding settlement pushes."""
    position = row.position
    return {
        "e": "ACCOUNT_UPDATE",
        "E": ms(now),
        "T": ms(now),
        "a": {
            "m": reason,
            "B": [{"a": ASSET, "wb": num(balance), "cw": num(balance), "bc": num(change)}],
            "P": [
                {
                    "s": position.symbol,
                    "pa": num(position.qty),
                    "ep": num(position.entry_price or ZERO),
                    "cr": num(position.realized_pnl),
                    "up": num(row.unrealized),
                    "mt": "isolated" if row.margin_type == "ISOLATED" else "cross",
                    "iw": "0",
                    "ps": row.side,
                    "ma": ASSET,
                }
            ],
        },
    }


def book_ticker(
    symbol: str, book: Book, qty: Decimal, update_id: int, now: float
) -> dict[str, Any]:
    return {
        "e": "bookTicker",
        "u": update_id,
        "E": ms(now),
        "T": ms(now),
        "s": symbol,
        "b": num(book.bid),
        "B": num(qty),
        "a": num(book.ask),
        "A": num(qty),
    }


def mark_price_update(
    symbol: str, mark: Decimal, index: Decimal, rate: Decimal, next_funding: float, now: float
) -> dict[str, Any]:
    return {
        "e": "markPriceUpdate",
        "E": ms(now),
        "s": symbol,
        "p": num(mark),
        "i": num(index),
        "P": num(index),
        "r": num(rate),
        "T": ms(next_funding),
    }


def agg_trade(fill: SimFill, now: float) -> dict[str, Any]:
    trade_id = int(fill.trade_id)
    buyer_is_maker = fill.maker == (fill.side is Side.BUY)
    return {
        "e": "aggTrade",
        "E": ms(now),
        "s": fill.symbol,
        "a": trade_id,
        "p": num(fill.price),
        "q": num(fill.qty),
        "f": trade_id,
        "l": trade_id,
        "T": ms(fill.at),
        "m": buyer_is_maker,
    }
