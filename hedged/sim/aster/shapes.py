"""Aster's JSON shapes: amounts as strings, ids and times (ms) as integers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedged.model import ZERO, OrderType, Side
from hedged.sim.records import PriceSource, SimFill, SimOrder, SimPosition

ASSET = "USDT"
_PLACES = Decimal("0.00000001")


def num(value: Decimal) -> str:
    """A Decimal as Aster writes amounts: plain notation, at most 8 decimals."""
    text = format(value.quantize(_PLACES).normalize(), "f")
    return "0" if Decimal(text) == 0 else text


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def placed_type(order: SimOrder) -> str:
    """The type the order was placed as (`origType`): a core STOP_MARKET is Aster's
    STOP_MARKET or TAKE_PROFIT_MARKET."""
    if order.type is OrderType.STOP_MARKET and order.take_profit:
        return "TAKE_PROFIT_MARKET"
    return order.type.value


def working_type(order: SimOrder) -> str:
    """The price a conditional order watches: the mark, or the last trade (the default)."""
    if order.type is OrderType.STOP_MARKET and order.trigger_by is PriceSource.MARK:
        return "MARK_PRICE"
    return "CONTRACT_PRICE"


@dataclass(frozen=True, slots=True)
class OrderView:
    """A core order as Aster shows it: an IOC/FOK remainder cancelled by the simulator, and a
    fired conditional order the fault injection refused, show EXPIRED; `reduce_only` is false
    for hedge-mode orders, which reduce by position side."""

    order: SimOrder
    status: str
    time_in_force: str
    position_side: str
    reduce_only: bool
    price_protect: bool = False


def order_json(view: OrderView, *, ack: bool = False, with_time: bool = False) -> dict[str, Any]:
    """The order object; `ack` shows it as accepted (NEW, nothing executed)."""
    order = view.order
    filled = ZERO if ack else order.filled_qty
    quote = ZERO if ack else order.filled_notional
    average = order.avg_price if order.avg_price is not None and not ack else ZERO
    body: dict[str, Any] = {
        "orderId": int(order.order_id),
        "symbol": order.symbol,
        "status": "NEW" if ack else view.status,
        "clientOrderId": order.client_id,
        "price": num(order.price or ZERO),
        "avgPrice": num(average),
        "origQty": num(order.qty),
        "executedQty": num(filled),
        "cumQty": num(filled),
        "cumQuote": num(quote),
        "timeInForce": view.time_in_force,
        "type": placed_type(order),
        "reduceOnly": view.reduce_only,
        "closePosition": order.position_share is not None,
        "side": order.side.value,
        "positionSide": view.position_side,
        "stopPrice": num(order.trigger_price or ZERO),
        "workingType": working_type(order),
        "priceProtect": view.price_protect,
        "origType": placed_type(order),
        "updateTime": ms(order.created_at if ack else order.updated_at),
    }
    if with_time:
        body["time"] = ms(order.created_at)
    return body


def chain_data(order: SimOrder) -> dict[str, str]:
    """V3 order replies carry the settlement transaction; the simulator makes one up."""
    digest = hashlib.sha256(f"aster-sim:{order.order_id}".encode()).hexdigest()
    return {"hash": f"0x{digest}"}


def trade_json(fill: SimFill, position_side: str) -> dict[str, Any]:
    return {
        "buyer": fill.side is Side.BUY,
        "commission": num(fill.fee),
        "commissionAsset": ASSET,
        "id": int(fill.trade_id),
        "maker": fill.maker,
        "marginAsset": ASSET,
        "orderId": int(fill.order_id),
        "price": num(fill.price),
        "qty": num(fill.qty),
        "quoteQty": num(fill.qty * fill.price),
        "realizedPnl": num(fill.realized_pnl),
        "side": fill.side.value,
        "positionSide": position_side,
        "symbol": fill.symbol,
        "time": ms(fill.at),
    }


@dataclass(frozen=True, slots=True)
class PositionRow:
    position: SimPosition
    side: str  # BOTH, LONG or SHORT
    mark: Decimal
    leverage: int
    margin_type: str  # CROSSED or ISOLATED
    updated_at: float

    @property
    def unrealized(self) -> Decimal:
        entry = self.position.entry_price
        return ZERO if entry is None else self.position.qty * (self.mark - entry)


def position_json(row: PositionRow, max_notional: Decimal) -> dict[str, Any]:
    position = row.position
    return {
        "symbol": position.symbol,
        "positionAmt": num(position.qty),
        "entryPrice": num(position.entry_price or ZERO),
        "markPrice": num(row.mark),
        "unRealizedProfit": num(row.unrealized),
        "liquidationPrice": "0",
        "leverage": str(row.leverage),
        "maxNotionalValue": num(max_notional),
        "marginType": "isolated" if row.margin_type == "ISOLATED" else "cross",
        "isolatedMargin": "0",
        "isAutoAddMargin": "false",
        "positionSide": row.side,
        "notional": num(position.qty * row.mark),
        "isolatedWallet": "0",
        "updateTime": ms(row.updated_at),
    }


@dataclass(frozen=True, slots=True)
class Wallet:
    balance: Decimal
    unrealized: Decimal
    available: Decimal


def balance_json(alias: str, wallet: Wallet, now: float) -> dict[str, Any]:
    return {
        "accountAlias": alias,
        "asset": ASSET,
        "balance": num(wallet.balance),
        "crossWalletBalance": num(wallet.balance),
        "crossUnPnl": num(wallet.unrealized),
        "availableBalance": num(wallet.available),
        "maxWithdrawAmount": num(max(ZERO, min(wallet.balance, wallet.available))),
        "marginAvailable": True,
        "updateTime": ms(now),
    }
