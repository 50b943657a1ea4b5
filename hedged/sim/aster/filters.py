"""Aster's symbol filters (exchangeInfo) and the checks of a new order against them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedged.model import OrderType, Side, ceil_to, floor_to
from hedged.sim.aster.errors import AsterError, min_notional
from hedged.sim.records import MarketSpec

if TYPE_CHECKING:  # orders reads a new order, then checks it here
    from hedged.sim.aster.orders import NewOrder


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


def check_filters(order: NewOrder, filters: AsterFilters, mark: Decimal) -> None:
    """PRICE_FILTER, LOT_SIZE (MARKET_LOT_SIZE), MIN_NOTIONAL, PERCENT_PRICE, in that order.
    A conditional order's stopPrice passes PRICE_FILTER and prices its notional; it is market
    sized, and closePosition (no quantity) skips the quantity filters."""
    price = order.price if order.price is not None else order.stop_price
    if price is not None:
        if price <= 0:
            raise AsterError(-4001, "Price less than 0.")
        if filters.min_price and price < filters.min_price:
            raise AsterError(-4013, "Price less than min price.")
        if filters.max_price and price > filters.max_price:
            raise AsterError(-4002, "Price greater than max price.")
        if (price - filters.min_price) % filters.tick != 0:
            raise AsterError(-4014, "Price not increased by tick size.")
    market = order.type in (OrderType.MARKET, OrderType.STOP_MARKET)
    step = filters.market_step if market else filters.step
    min_qty = filters.market_min_qty if market else filters.min_qty
    max_qty = filters.market_max_qty if market else filters.max_qty
    if order.close_position:
        return
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
    price = order.price
    if price is None:
        return
    highest, lowest = mark * filters.multiplier_up, mark * filters.multiplier_down
    if order.side is Side.BUY and price > highest:
        highest = floor_to(highest, filters.tick)
        raise AsterError(-4016, f"Limit price can't be higher than {highest}.")
    if order.side is Side.SELL and price < lowest:
        raise AsterError(-4024, f"Limit price can't be lower than {ceil_to(lowest, filters.tick)}.")
