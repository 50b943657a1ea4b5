"""Backpack's signed account endpoints (docs/venues/backpack.md#endpoints-used); each runs after
`backpack_api` authenticated the request and stored its account and parameters."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TypeVar

from aiohttp import web

from hedged.sim.backpack.auth import ACCOUNT, PARAMS
from hedged.sim.backpack.errors import bad_request, not_found
from hedged.sim.backpack.history import funding_since_open, position_lives
from hedged.sim.backpack.ids import wire_client_id
from hedged.sim.backpack.orders import (
    CANCEL_KINDS,
    cancel,
    cancel_all,
    execute,
    find_open,
    parse_order,
)
from hedged.sim.backpack.params import (
    Params,
    choice,
    integer,
    one_order_id,
    order_id,
    required_text,
    text,
    uint32,
)
from hedged.sim.backpack.shapes import (
    capital_json,
    collateral_json,
    dec,
    fill_json,
    naive_utc,
    order_json,
    position_json,
    quote_asset,
)
from hedged.sim.backpack.state import STATE, BackpackState, position_id, user_id
from hedged.sim.middleware import PARTIAL_KEY
from hedged.sim.records import SimOrder

T = TypeVar("T")
HISTORY_LIMIT = 100
HISTORY_MAX_LIMIT = 1000
BPS = Decimal(10_000)
DEFAULT_LEVERAGE = 10  # an account's leverageLimit until it sets one
MAX_LEVERAGE = 50


def _context(request: web.Request) -> tuple[BackpackState, str, Params]:
    return request.app[STATE], request[ACCOUNT], request[PARAMS]


def _order(venue: BackpackState, order: SimOrder) -> web.Response:
    return web.json_response(_order_body(venue, order))


def _order_body(venue: BackpackState, order: SimOrder) -> dict[str, object]:
    return order_json(order, venue.ids.meta(order))


def _symbol(venue: BackpackState, params: Params) -> str | None:
    """The optional `symbol` filter, checked against the venue's markets."""
    symbol = text(params, "symbol")
    return venue.market(symbol).symbol if symbol is not None else None


async def order_execute(request: web.Request) -> web.Response:
    venue, account, params = _context(request)
    payload = parse_order(params)
    if payload.client_id is not None:
        venue.submissions[str(payload.client_id)] += 1
    partial = request.get(PARTIAL_KEY)
    fraction = partial if isinstance(partial, Decimal) else None
    return _order(venue, execute(venue, account, payload, fraction))


async def order_query(request: web.Request) -> web.Response:
    """Only an order resting on the book; anything else is 404."""
    venue, account, params = _context(request)
    symbol = venue.market(required_text(params, "symbol")).symbol
    venue_id, client_id = one_order_id(params, text=True)
    order = find_open(venue, account, symbol, order_id=venue_id, client_id=client_id)
    if order is None:
        raise not_found()
    return _order(venue, order)


async def order_cancel(request: web.Request) -> web.Response:
    venue, account, params = _context(request)
    symbol = required_text(params, "symbol")
    venue_id, client_id = one_order_id(params, text=False)
    return _order(venue, cancel(venue, account, symbol, order_id=venue_id, client_id=client_id))


async def orders_query(request: web.Request) -> web.Response:
    venue, account, params = _context(request)
    orders = venue.exchange.open_orders(account, _symbol(venue, params))
    return web.json_response([_order_body(venue, order) for order in orders])


async def orders_cancel(request: web.Request) -> web.Response:
    venue, account, params = _context(request)
    kind = choice(params, "orderType", CANCEL_KINDS, None)
    cancelled = cancel_all(venue, account, required_text(params, "symbol"), kind)
    return web.json_response([_order_body(venue, order) for order in cancelled])


async def position_query(request: web.Request) -> web.Response:
    """`[]` when flat."""
    venue, account, params = _context(request)
    positions = venue.positions(account, _symbol(venue, params))
    return web.json_response(
        [
            position_json(
                p,
                venue.mark(p.symbol),
                user_id(account),
                position_id(account, p.symbol),
                funding_since_open(venue, account, p.symbol),
            )
            for p in positions
        ]
    )


async def balance_query(request: web.Request) -> web.Response:
    venue, account, _ = _context(request)
    return web.json_response(
        capital_json(quote_asset(venue.symbol), venue.exchange.balance(account))
    )


async def collateral_query(request: web.Request) -> web.Response:
    venue, account, _ = _context(request)
    positions = [(p, venue.mark(p.symbol)) for p in venue.positions(account)]
    balance = venue.exchange.balance(account)
    return web.json_response(collateral_json(quote_asset(venue.symbol), balance, positions))


async def account_query(request: web.Request) -> web.Response:
    """Account settings; fees in basis points, as the venue writes them."""
    venue, account, _ = _context(request)
    market = venue.market(venue.symbol)
    open_orders = venue.exchange.open_orders(account)
    return web.json_response(
        {
            "autoBorrowSettlements": True,
            "autoLend": False,
            "autoRealizePnl": True,
            "autoRepayBorrows": True,
            "borrowLimit": "0",
            "futuresMakerFee": dec(market.maker_fee * BPS),
            "futuresTakerFee": dec(market.taker_fee * BPS),
            "spotMakerFee": dec(market.maker_fee * BPS),
            "spotTakerFee": dec(market.taker_fee * BPS),
            "leverageLimit": str(venue.leverage.get(account, DEFAULT_LEVERAGE)),
            "limitOrders": len(open_orders),
            "triggerOrders": 0,
            "liquidating": False,
            "positionLimit": "1000000",
        }
    )


async def account_update(request: web.Request) -> web.Response:
    """`leverageLimit` is kept; the lending settings are accepted and not simulated."""
    venue, account, params = _context(request)
    leverage = text(params, "leverageLimit")
    if leverage is not None:
        if not leverage.isdigit() or not 1 <= int(leverage) <= MAX_LEVERAGE:
            raise bad_request("Invalid value for `leverageLimit`")
        venue.leverage[account] = int(leverage)
    return web.Response(status=200)


async def funding_history(request: web.Request) -> web.Response:
    """Funding payments: `quantity` > 0 received, < 0 paid; newest first unless `Asc`."""
    venue, account, params = _context(request)
    payments = venue.exchange.funding_payments(account, _symbol(venue, params))
    return web.json_response(
        [
            {
                "userId": user_id(account),
                "subaccountId": None,
                "symbol": p.symbol,
                "quantity": dec(p.amount),
                "intervalEndTimestamp": naive_utc(p.at),
                "fundingRate": dec(p.rate),
            }
            for p in _page(payments, params)
        ]
    )


async def position_history(request: web.Request) -> web.Response:
    """Each position the account held, from opening to flat: the closed ones and the one
    open now, newest first unless `Asc`."""
    venue, account, params = _context(request)
    symbol = _symbol(venue, params)
    state = choice(params, "state", ("Open", "Closed"), None)
    rows = [
        row
        for row in position_lives(venue, account)
        if symbol in (None, row["symbol"]) and state in (None, row["state"])
    ]
    return web.json_response(list(_page(rows, params)))


async def order_history(request: web.Request) -> web.Response:
    """Every order of the account, open or finished; `clientId` is a filter Backpack's
    history does not document, kept because client ids are what a reconciler knows."""
    venue, account, params = _context(request)
    symbol, venue_id = _symbol(venue, params), order_id(params)
    client_id = uint32(params, "clientId")
    orders = [
        order
        for order in venue.ids.orders.values()
        if order.account == account
        and symbol in (None, order.symbol)
        and venue_id in (None, order.order_id)
        and client_id in (None, venue.ids.meta(order).client_id)
    ]
    return web.json_response(
        [order_json(order, venue.ids.meta(order), history=True) for order in _page(orders, params)]
    )


async def fill_history(request: web.Request) -> web.Response:
    venue, account, params = _context(request)
    symbol, venue_id = _symbol(venue, params), order_id(params)
    client_id = uint32(params, "clientId")
    since, until = integer(params, "from"), integer(params, "to")
    fills = [
        fill
        for fill in venue.ids.fills
        if fill.account == account
        and symbol in (None, fill.symbol)
        and venue_id in (None, fill.order_id)
        and client_id in (None, wire_client_id(fill.client_id))
        and (since is None or fill.at * 1000 >= since)
        and (until is None or fill.at * 1000 < until)
    ]
    return web.json_response(
        [fill_json(fill, wire_client_id(fill.client_id)) for fill in _page(fills, params)]
    )


def _page(items: Sequence[T], params: Params) -> Sequence[T]:
    """`limit`, `offset` and `sortDirection` (newest first unless `Asc`)."""
    limit = integer(params, "limit", 1, HISTORY_MAX_LIMIT) or HISTORY_LIMIT
    offset = integer(params, "offset") or 0
    ascending = choice(params, "sortDirection", ("Asc", "Desc"), "Desc") == "Asc"
    ordered = items if ascending else items[::-1]
    return ordered[offset : offset + limit]
