"""Backpack's REST objects (docs/venues/backpack.md#orders) built from the core's records.
Decimals are JSON strings, live order `createdAt` is ms, history timestamps are naive UTC
datetime strings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from hedged.model import ZERO, OrderStatus, OrderType, Side
from hedged.sim.backpack.ids import OrderMeta
from hedged.sim.funding import FundingView
from hedged.sim.records import Book, MarketSpec, PriceSource, SimFill, SimOrder, SimPosition

Json = dict[str, object]

IMF = Decimal("0.02")
MMF = Decimal("0.0125")
IMF_FUNCTION: Json = {"base": "0.02", "factor": "0.0000935", "type": "sqrt"}
MMF_FUNCTION: Json = {"base": "0.0125", "factor": "0.0000561", "type": "sqrt"}
TOUCH_QTY = Decimal(1000)  # size shown at the touch when the market caps no taker depth
MARKET_CREATED_AT = "2024-02-01T00:00:00"

SIDES = {Side.BUY: "Bid", Side.SELL: "Ask"}
# A trigger order is a market order waiting for its trigger.
ORDER_TYPES = {
    OrderType.MARKET: "Market",
    OrderType.LIMIT: "Limit",
    OrderType.STOP_MARKET: "Market",
}
TRIGGER_BY = {
    PriceSource.MARK: "MarkPrice",
    PriceSource.LAST: "LastPrice",
    PriceSource.INDEX: "IndexPrice",
}
STATUSES = {
    OrderStatus.NEW: "New",
    OrderStatus.PARTIALLY_FILLED: "PartiallyFilled",
    OrderStatus.FILLED: "Filled",
    OrderStatus.CANCELED: "Cancelled",
    OrderStatus.EXPIRED: "Expired",
    OrderStatus.REJECTED: "Expired",
}
_NULL_ORDER_FIELDS = (
    "relatedOrderId",
    "strategyId",
    "triggerPrice",
    "triggerQuantity",
    "triggerBy",
    "triggeredAt",
    "stopLossTriggerPrice",
    "stopLossLimitPrice",
    "stopLossTriggerBy",
    "takeProfitTriggerPrice",
    "takeProfitLimitPrice",
    "takeProfitTriggerBy",
    "slippageTolerance",
    "slippageToleranceType",
)


def dec(value: Decimal) -> str:
    """Fixed-point, without trailing zeros: `Decimal("150.020")` -> "150.02"."""
    return format(value.normalize(), "f") if value else "0"


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def us(seconds: float) -> int:
    return int(seconds * 1_000_000)


def naive_utc(seconds: float) -> str:
    """`2025-01-21T06:34:54.691858`, as the history endpoints write times."""
    moment = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def symbol_parts(symbol: str) -> tuple[str, str, str]:
    """(base, quote, marketType): `SOL_USDC_PERP` -> ("SOL", "USDC", "PERP")."""
    parts = symbol.split("_")
    if len(parts) < 2:
        return symbol, "USDC", "PERP"
    return parts[0], parts[1], "PERP" if parts[-1] == "PERP" else "SPOT"


def quote_asset(symbol: str) -> str:
    return symbol_parts(symbol)[1]


def book_mark(book: Book) -> Decimal:
    """The simulated mark price: the middle of the book."""
    return (book.bid + book.ask) / 2


def touch_qty(market: MarketSpec) -> Decimal:
    return market.depth_qty if market.depth_qty is not None else TOUCH_QTY


def status_of(order: SimOrder, meta: OrderMeta) -> str:
    """A cancel the wire made for IOC/FOK is an expiry on Backpack; a trigger order waits as
    TriggerPending, and one whose fired order the venue refused is TriggerFailed."""
    if order.status is OrderStatus.CANCELED and meta.expiry_reason is not None:
        return "Expired"
    if order.is_open and order.waiting:
        return "TriggerPending"
    if order.status is OrderStatus.REJECTED and order.triggered_at is not None:
        return "TriggerFailed"
    return STATUSES[order.status]


def expiry_reason(order: SimOrder, meta: OrderMeta) -> str | None:
    if status_of(order, meta) != "Expired":
        return None
    if meta.expiry_reason is not None:
        return meta.expiry_reason
    if order.status is OrderStatus.REJECTED:
        return "Unknown"
    # The core expires a (fired) market order's unfilled rest, and a resting reduce-only order
    # that would have flipped the position.
    taker = order.type is OrderType.MARKET or order.triggered_at is not None
    return "InsufficientLiquidity" if taker else "ReduceOnlyNotReduced"


def order_json(order: SimOrder, meta: OrderMeta, *, history: bool = False) -> Json:
    """The Order object; with `history`, the `/wapi/v1/history/orders` item."""
    body: Json = {
        "id": order.order_id,
        "clientId": meta.client_id,
        "symbol": order.symbol,
        "side": SIDES[order.side],
        "orderType": ORDER_TYPES[order.type],
        "quantity": dec(order.qty),
        "executedQuantity": dec(order.filled_qty),
        "executedQuoteQuantity": dec(order.filled_notional),
        "status": status_of(order, meta),
        "timeInForce": meta.time_in_force,
        "selfTradePrevention": meta.self_trade_prevention,
        "reduceOnly": True if order.reduce_only else None,
        "createdAt": naive_utc(order.created_at) if history else ms(order.created_at),
    }
    if order.type is OrderType.LIMIT:
        body["price"] = dec(order.price) if order.price is not None else None
        body["postOnly"] = order.post_only
    else:
        quote = meta.quote_quantity
        body["quoteQuantity"] = dec(quote) if quote is not None else None
    body.update(dict.fromkeys(_NULL_ORDER_FIELDS))
    if order.trigger_price is not None:
        fired = order.triggered_at
        body["triggerPrice"] = dec(order.trigger_price)
        body["triggerQuantity"] = meta.trigger_quantity
        body["triggerBy"] = TRIGGER_BY[order.trigger_by]
        if fired is not None:
            body["triggeredAt"] = naive_utc(fired) if history else ms(fired)
    if history:
        body["expiryReason"] = expiry_reason(order, meta)
        body["systemOrderType"] = None
    return body


def fill_json(fill: SimFill, client_id: int | None) -> Json:
    """A `/wapi/v1/history/fills` item; `clientId` is a string here."""
    return {
        "tradeId": int(fill.trade_id),
        "orderId": fill.order_id,
        "clientId": str(client_id) if client_id is not None else None,
        "symbol": fill.symbol,
        "side": SIDES[fill.side],
        "price": dec(fill.price),
        "quantity": dec(fill.qty),
        "fee": dec(fill.fee),
        "feeSymbol": quote_asset(fill.symbol),
        "isMaker": fill.maker,
        "timestamp": naive_utc(fill.at),
        "systemOrderType": None,
    }


def unrealized_pnl(position: SimPosition, mark: Decimal) -> Decimal:
    return (mark - (position.entry_price or mark)) * position.qty


def position_json(
    position: SimPosition,
    mark: Decimal,
    user_id: int,
    position_id: int,
    funding: Decimal = ZERO,
) -> Json:
    """`funding`: what the position has received (> 0) or paid in funding."""
    entry = position.entry_price or ZERO
    return {
        "symbol": position.symbol,
        "positionId": str(position_id),
        "userId": user_id,
        "subaccountId": None,
        "netQuantity": dec(position.qty),
        "netCost": dec(position.qty * entry),
        "netExposureQuantity": dec(abs(position.qty)),
        "netExposureNotional": dec(abs(position.qty) * mark),
        "entryPrice": dec(entry),
        "breakEvenPrice": dec(entry),
        "estLiquidationPrice": "0",
        "markPrice": dec(mark),
        "imf": dec(IMF),
        "mmf": dec(MMF),
        "imfFunction": IMF_FUNCTION,
        "mmfFunction": MMF_FUNCTION,
        "pnlRealized": dec(position.realized_pnl),
        "pnlUnrealized": dec(unrealized_pnl(position, mark)),
        "cumulativeFundingPayment": dec(funding),
        "cumulativeInterest": "0",
    }


def market_json(market: MarketSpec, funding_interval_ms: int) -> Json:
    base, quote, market_type = symbol_parts(market.symbol)
    perp = market_type == "PERP"
    return {
        "symbol": market.symbol,
        "baseSymbol": base,
        "quoteSymbol": quote,
        "marketType": market_type,
        "orderBookState": "Open",
        "visible": True,
        "createdAt": MARKET_CREATED_AT,
        "fundingInterval": funding_interval_ms if perp else None,
        "fundingRateUpperBound": "100" if perp else None,
        "fundingRateLowerBound": "-100" if perp else None,
        "openInterestLimit": "1000000" if perp else None,
        "imfFunction": IMF_FUNCTION if perp else None,
        "mmfFunction": MMF_FUNCTION if perp else None,
        "positionLimitWeight": None,
        "filters": {
            "price": {
                "minPrice": dec(market.tick),
                "maxPrice": None,
                "tickSize": dec(market.tick),
                "maxMultiplier": "1.25",
                "minMultiplier": "0.75",
                "maxImpactMultiplier": "1.03",
                "minImpactMultiplier": "0.97",
                "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                "meanPremiumBand": None,
            },
            "quantity": {
                "minQuantity": dec(market.min_qty),
                "maxQuantity": dec(market.max_qty) if market.max_qty is not None else None,
                "stepSize": dec(market.step),
            },
        },
    }


def depth_json(book: Book, qty: Decimal, update_id: int, now_us: int) -> Json:
    """One level a side (the core has only a top of book); bids ascending like the venue."""
    return {
        "asks": [[dec(book.ask), dec(qty)]],
        "bids": [[dec(book.bid), dec(qty)]],
        "lastUpdateId": str(update_id),
        "timestamp": now_us,
    }


def mark_price_json(symbol: str, mark: Decimal, index: Decimal, funding: FundingView) -> Json:
    return {
        "symbol": symbol,
        "markPrice": dec(mark),
        "indexPrice": dec(index),
        "fundingRate": dec(funding.rate),
        "nextFundingTimestamp": int(funding.next_at * 1000),
    }


def ticker_json(symbol: str, fills: Sequence[SimFill], mark: Decimal) -> Json:
    """The 1d ticker from the day's fills; without trades every price is the mark."""
    prices = [fill.price for fill in fills] or [mark]
    first, last = prices[0], prices[-1]
    return {
        "symbol": symbol,
        "firstPrice": dec(first),
        "lastPrice": dec(last),
        "priceChange": dec(last - first),
        "priceChangePercent": dec(((last - first) / first).quantize(Decimal("0.000001"))),
        "high": dec(max(prices)),
        "low": dec(min(prices)),
        "volume": dec(sum((fill.qty for fill in fills), ZERO)),
        "quoteVolume": dec(sum((fill.qty * fill.price for fill in fills), ZERO)),
        "trades": str(len(fills)),
    }


def capital_json(asset: str, balance: Decimal) -> Json:
    return {asset: {"available": dec(balance), "locked": "0", "staked": "0"}}


def collateral_json(
    asset: str, balance: Decimal, positions: Sequence[tuple[SimPosition, Decimal]]
) -> Json:
    """Cross-margin summary over the account's open positions, each with its mark price."""
    unrealized = sum((unrealized_pnl(p, mark) for p, mark in positions), ZERO)
    exposure = sum((abs(p.qty) * mark for p, mark in positions), ZERO)
    equity = balance + unrealized
    locked = exposure * IMF
    return {
        "assetsValue": dec(balance),
        "borrowLiability": "0",
        "collateral": [
            {
                "symbol": asset,
                "assetMarkPrice": "1",
                "totalQuantity": dec(balance),
                "balanceNotional": dec(balance),
                "collateralWeight": "1",
                "collateralValue": dec(balance),
                "openOrderQuantity": "0",
                "lendQuantity": "0",
                "availableQuantity": dec(balance),
            }
        ],
        "imf": dec(IMF),
        "mmf": dec(MMF),
        "marginFraction": dec(equity / exposure) if exposure else None,
        "netEquity": dec(equity),
        "netEquityAvailable": dec(equity - locked),
        "netEquityLocked": dec(locked),
        "netExposureFutures": dec(exposure),
        "pnlUnrealized": dec(unrealized),
        "unsettledEquity": dec(unrealized),
        "liabilitiesValue": "0",
    }
