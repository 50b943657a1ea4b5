"""Aster's symbol filters and the state-free checks of a new order, in the venue's order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from hedged.model import OrderType, Side, ceil_to, floor_to
from hedged.sim.aster.errors import AsterError, bad_symbol, bad_value, mandatory, min_notional
from hedged.sim.records import MarketSpec

TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "HIDDEN")  # HIDDEN rests like GTC here
ALL_ORDER_TYPES = frozenset(
    {"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
     "TRAILING_STOP_MARKET"}
)  # fmt: skip
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
RESPONSE_TYPES = ("ACK", "RESULT")
CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")  # the rule for newClientOrderId


@dataclass(frozen=True, slots=True)
class AsterFilters:
    """One symbol's exchangeInfo filters; 0 disables a price bound, as on the venue."""

    symbol: str
    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int = 4
    max_num_orders: int = 200
    max_num_algo_orders: int = 10

    @classmethod
    def for_market(cls, market: MarketSpec, percent: Decimal = Decimal("0.05")) -> AsterFilters:
        """The core's market with Aster's extra bounds (±5 % PERCENT_PRICE, as ASTERUSDT)."""
        max_qty = market.max_qty if market.max_qty is not None else Decimal(1_000_000)
        return cls(
            symbol=market.symbol,
            tick=market.tick,
            min_price=market.tick,
            max_price=Decimal(1_000_000),
            step=market.step,
            min_qty=market.min_qty,
            max_qty=max_qty,
            market_step=market.step,
            market_min_qty=market.min_qty,
            market_max_qty=max_qty,
            min_notional=market.min_notional,
            multiplier_up=1 + percent,
            multiplier_down=1 - percent,
        )

    def to_json(self) -> list[dict[str, Any]]:
        up, down = (f"{m:.{self.multiplier_decimal}f}" for m in (self.multiplier_up,
                                                                 self.multiplier_down))  # fmt: skip
        return [
            {"filterType": "PRICE_FILTER", "minPrice": str(self.min_price),
             "maxPrice": str(self.max_price), "tickSize": str(self.tick)},
            {"filterType": "LOT_SIZE", "minQty": str(self.min_qty), "maxQty": str(self.max_qty),
             "stepSize": str(self.step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": str(self.market_min_qty),
             "maxQty": str(self.market_max_qty), "stepSize": str(self.market_step)},
            {"filterType": "MAX_NUM_ORDERS", "limit": self.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": self.max_num_algo_orders},
            {"filterType": "MIN_NOTIONAL", "notional": str(self.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": up, "multiplierDown": down,
             "multiplierDecimal": str(self.multiplier_decimal)},
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A parsed `POST /order`. `reduce_only` is the flag as sent (one-way mode only)."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    position_side: str
    client_id: str | None
    response_type: str

    @property
    def reduces(self) -> bool:
        """Reduce-only, or closing a hedge-mode side (a BUY on SHORT, a SELL on LONG)."""
        closing = {"LONG": Side.SELL, "SHORT": Side.BUY}.get(self.position_side)
        return self.reduce_only or self.side is closing


def parse_new_order(params: Mapping[str, str], symbol: str, *, dual: bool) -> NewOrder:
    """Symbol, side/type/tif, mandatory params, position mode, client id: in Aster's order."""
    check_symbol(params, symbol)
    side = _choice(params, "side", ("BUY", "SELL"), AsterError(-1117, "Invalid side."))
    kind = params.get("type")
    if not kind:
        raise mandatory("type")
    if kind not in ("LIMIT", "MARKET"):
        unsupported = " (the simulator serves LIMIT and MARKET)" if kind in ALL_ORDER_TYPES else ""
        raise AsterError(-1116, f"Invalid orderType.{unsupported}")
    tif = params.get("timeInForce")
    if tif is not None and tif not in TIME_IN_FORCE:
        raise AsterError(-1115, "Invalid timeInForce.")
    if kind == "LIMIT" and tif is None:
        raise mandatory("timeInForce")
    qty = decimal_param(params, "quantity")
    price = decimal_param(params, "price") if kind == "LIMIT" else None
    reduce_only = _flag(params, "reduceOnly")
    position_side = params.get("positionSide", "BOTH").upper()
    if position_side not in POSITION_SIDES:
        raise bad_value("positionSide")
    if (position_side != "BOTH") != dual:
        raise AsterError(-4061, "Order's position side does not match user's setting.")
    if dual and "reduceOnly" in params:
        # Binance's answer; Aster's (-1106 or -4062) is UNCONFIRMED.
        raise AsterError(-1106, "Parameter 'reduceOnly' sent when not required.")
    client_id = params.get("newClientOrderId")
    if client_id is not None and not CLIENT_ORDER_ID.fullmatch(client_id):
        raise AsterError(-4015, "Client order id is not valid.")
    response_type = params.get("newOrderRespType", "ACK")
    if response_type not in RESPONSE_TYPES:
        raise bad_value("newOrderRespType")
    return NewOrder(
        symbol=symbol,
        side=Side(side),
        type=OrderType(kind),
        qty=qty,
        price=price,
        time_in_force=tif or "GTC",
        reduce_only=reduce_only,
        position_side=position_side,
        client_id=client_id,
        response_type=response_type,
    )


def check_filters(order: NewOrder, filters: AsterFilters, mark: Decimal) -> None:
    """PRICE_FILTER, LOT_SIZE (MARKET_LOT_SIZE), MIN_NOTIONAL, PERCENT_PRICE, in that order."""
    price = order.price
    if price is not None:
        if price <= 0:
            raise AsterError(-4001, "Price less than 0.")
        if filters.min_price and price < filters.min_price:
            raise AsterError(-4013, "Price less than min price.")
        if filters.max_price and price > filters.max_price:
            raise AsterError(-4002, "Price greater than max price.")
        if (price - filters.min_price) % filters.tick != 0:
            raise AsterError(-4014, "Price not increased by tick size.")
    market = order.type is OrderType.MARKET
    step = filters.market_step if market else filters.step
    min_qty = filters.market_min_qty if market else filters.min_qty
    max_qty = filters.market_max_qty if market else filters.max_qty
    if order.qty <= 0:
        raise AsterError(-4003, "Quantity less than or equal to zero.")
    if (order.qty - min_qty) % step != 0:
        raise AsterError(-4023, "Quantity not increased by step size.")
    if order.qty < min_qty:
        raise AsterError(-4004, "Quantity less than min quantity.")
    if order.qty > max_qty:
        raise AsterError(-4005, "Quantity greater than max quantity.")
    if not order.reduces and order.qty * (price or mark) < filters.min_notional:
        raise min_notional(filters.min_notional)
    if price is None:
        return
    highest, lowest = mark * filters.multiplier_up, mark * filters.multiplier_down
    if order.side is Side.BUY and price > highest:
        highest = floor_to(highest, filters.tick)
        raise AsterError(-4016, f"Limit price can't be higher than {highest}.")
    if order.side is Side.SELL and price < lowest:
        raise AsterError(-4024, f"Limit price can't be lower than {ceil_to(lowest, filters.tick)}.")


def check_symbol(params: Mapping[str, str], symbol: str) -> str:
    sent = params.get("symbol")
    if not sent:
        raise mandatory("symbol")
    if sent != symbol:
        raise bad_symbol()
    return sent


def decimal_param(params: Mapping[str, str], name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except (KeyError, InvalidOperation):
        raise mandatory(name) from None
    if not value.is_finite():
        raise mandatory(name)
    return value


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise mandatory(name) from None


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], bad: AsterError) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    if value not in allowed:
        raise bad
    return value


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise bad_value(name)
    return value == "true"
