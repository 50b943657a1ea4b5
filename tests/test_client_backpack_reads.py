"""The Backpack client's reads: start and rules, quotes, query (book, then order history),
open orders, positions, fills; retries with backoff, 429, clock resync; and the property that
garbage never escapes as anything but VenueError (reads) or as Accepted (writes)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_client_backpack_kit import (
    MARKET,
    SYMBOL,
    Canned,
    canned_server,
    drop,
    order_json,
    reply,
    truncated,
    venue_on,
)

from hedged.adapters.backpack import wire
from hedged.adapters.backpack.client import DEFAULT_MIN_NOTIONAL, BackpackVenue
from hedged.adapters.base import Accepted, Ambiguous, Rejected, VenueError
from hedged.adapters.errors import WireError
from hedged.model import OrderRequest, OrderStatus, OrderType, Side, SymbolRules

D = Decimal
ORDER = "/api/v1/order"
HISTORY = "/wapi/v1/history/orders"
FILLS = "/wapi/v1/history/fills"
NOT_FOUND = reply(404, {"code": "RESOURCE_NOT_FOUND", "message": "Not Found"})


def fill_json(
    trade_id: int, order_id: str = "111", *, fee: str = "0.0375", fee_symbol: str = "USDC"
) -> dict[str, Any]:
    return {
        "tradeId": trade_id,
        "orderId": order_id,
        "clientId": "42",
        "symbol": SYMBOL,
        "side": "Bid",
        "price": "150.02",
        "quantity": "0.25",
        "fee": fee,
        "feeSymbol": fee_symbol,
        "isMaker": False,
        "timestamp": "2025-06-15T15:06:40.123456",
        "systemOrderType": None,
    }


# -- start, rules, quotes ------------------------------------------------------------------


async def test_start_reads_the_market_into_rules() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        rules = await venue.rules(SYMBOL)
        assert rules == SymbolRules(
            SYMBOL, D("0.01"), D("0.01"), D("0.01"), DEFAULT_MIN_NOTIONAL, D("10000")
        )
        await venue.rules(SYMBOL)
    [market] = canned.requests("GET", "/api/v1/market")
    assert market.query == {"symbol": SYMBOL}


async def test_a_published_min_notional_wins_over_the_default() -> None:
    quantity = {**MARKET["filters"]["quantity"], "minNotional": "10", "maxQuantity": None}
    market = {**MARKET, "filters": {**MARKET["filters"], "quantity": quantity}}
    async with canned_server() as canned:
        canned.on("GET", "/api/v1/market", reply(200, market))
        async with venue_on(canned) as venue:
            rules = await venue.rules(SYMBOL)
    assert (rules.min_notional, rules.max_qty) == (D(10), None)


@pytest.mark.parametrize(
    "market",
    [
        {**MARKET, "marketType": "SPOT"},
        {**MARKET, "symbol": "SOL_USDC"},
        {**MARKET, "filters": {"price": {}, "quantity": {}}},
    ],
    ids=["spot", "other-symbol", "no-filters"],
)
async def test_start_refuses_what_is_not_our_perp(market: dict[str, Any]) -> None:
    async with canned_server() as canned:
        canned.on("GET", "/api/v1/market", reply(200, market))
        with pytest.raises(VenueError):
            async with venue_on(canned):
                pass


async def test_start_fails_cleanly_when_the_venue_is_down() -> None:
    async with canned_server() as canned:
        canned.on("GET", "/api/v1/time", reply(503, text="down"))
        with pytest.raises(VenueError, match="HTTP 503"):
            async with venue_on(canned):
                pass


async def test_quote_takes_the_best_levels_whatever_their_order() -> None:
    depth = {
        "asks": [["150.05", "3"], ["150.02", "1"], ["150.03", "0"]],
        "bids": [["149.90", "2"], ["149.98", "1"], ["149.99", "0"]],  # ascending, like CCXT's
        "lastUpdateId": "7",
        "timestamp": 1_750_000_000_000_000,
    }
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/depth", reply(200, depth))
        before = time.monotonic()
        quote = await venue.quote(SYMBOL)
    assert (quote.venue, quote.symbol, quote.bid, quote.ask) == (
        "backpack",
        SYMBOL,
        D("149.98"),
        D("150.02"),
    )
    assert before <= quote.at <= time.monotonic()


async def test_quote_of_an_empty_book_is_a_venue_error() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/depth", reply(200, {"asks": [], "bids": [["1", "1"]]}))
        with pytest.raises(VenueError):
            await venue.quote(SYMBOL)


# -- query ---------------------------------------------------------------------------------


async def test_query_finds_a_resting_order_on_the_book() -> None:
    body = order_json(status="New", order_type="Limit", price="160", executed="0")
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, reply(200, {**body, "executedQuoteQuantity": "0"}))
        state = await venue.query(SYMBOL, "42")
    assert state is not None
    assert (state.status, state.price, state.filled_qty) == (OrderStatus.NEW, D("160"), D(0))
    assert canned.requests("GET", HISTORY) == []


async def test_query_of_a_finished_order_reads_the_newest_in_the_history() -> None:
    history = [
        order_json(99, order_id="300", created_at="2025-06-15T15:07:00.000000"),
        order_json(42, status="Cancelled", order_id="200", created_at="2025-06-15T15:06:00.0"),
        order_json(42, status="Filled", order_id="100", created_at="2025-06-14T10:00:00.0"),
        order_json(None, order_id="50"),
    ]
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, NOT_FOUND)
        canned.on("GET", HISTORY, reply(200, history[::-1]))  # whatever order it comes in
        state = await venue.query(SYMBOL, "42")
    assert state is not None
    assert (state.venue_order_id, state.status) == ("200", OrderStatus.CANCELED)
    [asked] = canned.requests("GET", HISTORY)
    assert asked.query["symbol"] == SYMBOL
    assert asked.query["sortDirection"] == "Desc"


@pytest.mark.parametrize(
    "not_found",
    [
        NOT_FOUND,
        reply(400, {"code": "INVALID_CLIENT_REQUEST", "message": "Order not found"}),
    ],
    ids=["404", "400-order-not-found"],
)
async def test_query_of_an_unknown_order_is_none(not_found: Any) -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, not_found)
        canned.on("GET", HISTORY, reply(200, [order_json(7)]))
        assert await venue.query(SYMBOL, "42") is None


async def test_odd_foreign_history_entries_do_not_hide_ours() -> None:
    history = [{"clientId": "weird", "status": "?"}, "junk", order_json(42, status="Expired")]
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, NOT_FOUND)
        canned.on("GET", HISTORY, reply(200, history))
        state = await venue.query(SYMBOL, "42")
    assert state is not None and state.status is OrderStatus.EXPIRED


async def test_query_pages_through_a_full_history() -> None:
    page = [order_json(1000 + i, order_id=str(i)) for i in range(1000)]
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, NOT_FOUND)
        canned.on("GET", HISTORY, reply(200, page), reply(200, [order_json(42)]))
        state = await venue.query(SYMBOL, "42")
    assert state is not None and state.client_id == "42"
    assert [s.query["offset"] for s in canned.requests("GET", HISTORY)] == ["0", "1000"]


async def test_query_of_an_id_that_cannot_be_a_backpack_id_asks_nobody() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        assert await venue.query(SYMBOL, "hd00000001-5") is None
    assert canned.requests("GET", ORDER) == []


async def test_query_answered_with_another_order_is_an_error() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, reply(200, order_json(43)))
        with pytest.raises(VenueError):
            await venue.query(SYMBOL, "42")


# -- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trouble",
    [
        reply(503, text="unavailable"),
        reply(500, {"code": "SERVER_ERROR", "message": "x"}),
        reply(408, text=""),
        drop(),
        truncated(200, b'{"id":'),
    ],
    ids=["503", "500", "408", "drop", "truncated"],
)
async def test_reads_retry_transport_trouble_then_succeed(trouble: Any) -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/orders", trouble, trouble, reply(200, [order_json(7)]))
        [order] = await venue.open_orders(SYMBOL)
    assert order.client_id == "7"
    assert len(canned.requests("GET", "/api/v1/orders")) == 3


async def test_reads_give_up_after_a_bounded_number_of_attempts() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/orders", reply(503, text="unavailable"))
        with pytest.raises(VenueError, match="after 3 attempts"):
            await venue.open_orders(SYMBOL)
    assert len(canned.requests("GET", "/api/v1/orders")) == 3


async def test_a_definite_error_on_a_read_is_not_retried() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/orders", reply(400, {"code": "INVALID_MARKET", "message": "x"}))
        with pytest.raises(VenueError, match="INVALID_MARKET"):
            await venue.open_orders(SYMBOL)
    assert len(canned.requests("GET", "/api/v1/orders")) == 1


async def test_a_429_is_honoured_before_the_next_attempt() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        limited = reply(
            429, {"code": "TOO_MANY_REQUESTS", "message": "x"}, **{"Retry-After": "0.3"}
        )
        canned.on("GET", "/api/v1/position", limited, reply(200, []))
        started = time.monotonic()
        position = await venue.position(SYMBOL)
        waited = time.monotonic() - started
    assert position.qty == 0
    assert waited >= 0.3


async def test_a_429_without_retry_after_backs_off_and_holds_other_reads() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/position", reply(429, text=""), reply(200, []))
        canned.on("GET", "/api/v1/orders", reply(200, []))
        started = time.monotonic()
        await venue.position(SYMBOL)
        await venue.open_orders(SYMBOL)  # paced behind the cooldown too
    assert time.monotonic() - started >= 0.05


async def test_an_expired_read_resyncs_the_clock_and_goes_again() -> None:
    skew = {"ms": 0}
    async with (
        canned_server(server_ms=lambda: int(time.time() * 1000) + skew["ms"]) as canned,
        venue_on(canned) as venue,
    ):
        assert abs(venue.clock_offset_ms) < 1000
        skew["ms"] = 40_000
        expired = reply(400, {"code": "INVALID_CLIENT_REQUEST", "message": "Request has expired"})
        canned.on("GET", "/api/v1/orders", expired, reply(200, []))
        assert await venue.open_orders(SYMBOL) == []
        assert abs(venue.clock_offset_ms - 40_000) < 1000
    stamps = [int(s.headers["X-Timestamp"]) for s in canned.requests("GET", "/api/v1/orders")]
    assert stamps[1] - stamps[0] > 39_000


async def test_reads_of_a_venue_that_is_not_there_are_venue_errors() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        venue._http.base_url = "http://127.0.0.1:1"
        for read in (
            venue.query(SYMBOL, "42"),
            venue.open_orders(SYMBOL),
            venue.position(SYMBOL),
            venue.fills(SYMBOL, "42"),
            venue.quote(SYMBOL),
        ):
            with pytest.raises(VenueError):
                await read


async def test_a_read_before_start_is_a_venue_error() -> None:
    async with canned_server() as canned, venue_on(canned, start=False) as venue:
        with pytest.raises(VenueError, match="not started"):
            await venue.open_orders(SYMBOL)


# -- open orders, position, fills ----------------------------------------------------------


async def test_open_orders_include_foreign_ones_without_a_client_id() -> None:
    orders = [
        order_json(7, status="New", order_type="Limit", price="160", executed="0"),
        order_json(None, status="TriggerPending", order_id="5", executed="0"),
    ]
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/orders", reply(200, orders))
        ours, foreign = await venue.open_orders(SYMBOL)
    assert (ours.client_id, ours.status) == ("7", OrderStatus.NEW)
    assert (foreign.client_id, foreign.status) == ("", OrderStatus.NEW)


@pytest.mark.parametrize(
    ("answer", "qty", "entry"),
    [
        (reply(200, []), D(0), None),
        (NOT_FOUND, D(0), None),
        (
            reply(
                200,
                [
                    {"symbol": "BTC_USDC_PERP", "netQuantity": "1", "entryPrice": "1"},
                    {"symbol": SYMBOL, "netQuantity": "0.50", "entryPrice": "150.02"},
                ],
            ),
            D("0.5"),
            D("150.02"),
        ),
        (
            reply(200, [{"symbol": SYMBOL, "netQuantity": "-0.3", "entryPrice": "149"}]),
            D("-0.3"),
            D(149),
        ),
    ],
    ids=["flat", "404-flat", "long", "short"],
)
async def test_position(answer: Any, qty: Decimal, entry: Decimal | None) -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", "/api/v1/position", answer)
        position = await venue.position(SYMBOL)
    assert (position.venue, position.symbol, position.qty, position.entry_price) == (
        "backpack",
        SYMBOL,
        qty,
        entry,
    )


async def test_fills_of_an_order_with_fees_in_the_quote_asset() -> None:
    fills = [
        fill_json(1),
        fill_json(2, fee="0.00025", fee_symbol="SOL"),  # a base-asset fee, priced at the fill
        fill_json(3, order_id="999"),
    ]
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, NOT_FOUND)
        canned.on("GET", HISTORY, reply(200, [order_json(42)]))
        canned.on("GET", FILLS, reply(200, fills))
        got = await venue.fills(SYMBOL, "42")
    assert [(f.trade_id, f.client_id, f.side, f.qty, f.price, f.fee, f.maker) for f in got] == [
        ("1", "42", Side.BUY, D("0.25"), D("150.02"), D("0.0375"), False),
        ("2", "42", Side.BUY, D("0.25"), D("150.02"), D("0.00025") * D("150.02"), False),
    ]
    [asked] = canned.requests("GET", FILLS)
    assert (asked.query["orderId"], asked.query["symbol"]) == ("111", SYMBOL)


async def test_fills_of_an_unknown_or_unfilled_order_are_empty() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        assert await venue.fills(SYMBOL, "42") == []
        canned.on("GET", ORDER, reply(200, order_json(status="New", executed="0")))
        assert await venue.fills(SYMBOL, "42") == []
    assert canned.requests("GET", FILLS) == []


async def test_a_fee_in_an_unknown_asset_is_an_error() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("GET", ORDER, reply(200, order_json(status="PartiallyFilled")))
        canned.on("GET", FILLS, reply(200, [fill_json(1, fee="1", fee_symbol="BP")]))
        with pytest.raises(VenueError):
            await venue.fills(SYMBOL, "42")


# -- garbage never escapes -----------------------------------------------------------------

KEYS = [
    *("id", "clientId", "symbol", "side", "orderType", "status", "quantity", "price"),
    *("executedQuantity", "executedQuoteQuantity", "code", "message", "asks", "bids"),
    *("netQuantity", "entryPrice", "orderId", "fee", "feeSymbol", "tradeId", "s", "b", "a"),
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.text(max_size=8)
    | st.sampled_from(["0.5", "New", "Filled", "Bid", "Market", "42", SYMBOL, "NaN", "1e9999"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=5),
            children,
            max_size=8,
        )
    ),
    max_leaves=20,
)
VALID_ORDER = json.dumps(order_json())
BODIES = (
    st.text(max_size=60)
    | JSON_VALUES.map(json.dumps)
    | st.integers(0, len(VALID_ORDER)).map(lambda n: VALID_ORDER[:n])
    | st.just(VALID_ORDER)
    | st.builds(
        lambda key, value: json.dumps({**order_json(), key: value}),
        st.sampled_from(sorted(order_json())),
        JSON_VALUES,
    )
)
STATUSES = st.sampled_from([200, 201, 202, 204, 302, 400, 401, 404, 408, 418, 429, 500, 503])


def _is_our_order(text: str) -> bool:
    try:
        order = wire.parse_order(json.loads(text, parse_float=Decimal))
    except (ValueError, WireError):
        return False
    return order.client_id == "42" and order.symbol == SYMBOL


@settings(max_examples=400, deadline=None)
@given(status=st.integers(100, 599), text=BODIES)
def test_classify_write_accepts_only_a_parseable_order(status: int, text: str) -> None:
    outcome = wire.classify_write(status, text, client_id="42", symbol=SYMBOL)
    assert isinstance(outcome, Accepted | Rejected | Ambiguous)
    if isinstance(outcome, Accepted):
        assert 200 <= status < 300 and _is_our_order(text)
    if isinstance(outcome, Rejected):
        assert 400 <= status < 500


@settings(max_examples=300, deadline=None)
@given(body=JSON_VALUES)
def test_parsers_raise_only_wire_errors(body: Any) -> None:
    parsers: list[Callable[[Any], object]] = [
        wire.parse_order,
        wire.parse_orders,
        wire.parse_order_update,
        wire.parse_depth,
        wire.parse_book_ticker,
        lambda b: wire.history_match(b, "42"),
        lambda b: wire.parse_position(b, SYMBOL),
        lambda b: wire.parse_market(b, D(5)),
        lambda b: wire.parse_fills(
            b, order_id="111", client_id="42", base="SOL", quote="USDC", venue="backpack"
        ),
    ]
    for parse in parsers:
        with contextlib.suppress(WireError):
            parse(body)


@pytest.fixture
async def shared() -> AsyncIterator[tuple[Canned, BackpackVenue]]:
    async with canned_server() as canned, venue_on(canned) as venue:
        yield canned, venue


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(status=STATUSES, text=BODIES)
async def test_garbage_answers_through_the_client(
    shared: tuple[Canned, BackpackVenue], status: int, text: str
) -> None:
    canned, venue = shared
    answer = reply(status, text=text, content_type="application/json")
    for method, path in [
        ("POST", ORDER),
        ("DELETE", ORDER),
        ("GET", ORDER),
        ("GET", HISTORY),
        ("GET", FILLS),
        ("GET", "/api/v1/orders"),
        ("GET", "/api/v1/position"),
        ("GET", "/api/v1/depth"),
    ]:
        canned.on(method, path, answer)
    venue._http.pacer = type(venue._http.pacer)(1000.0)  # no 429 cooldown carried over
    order = OrderRequest("42", SYMBOL, Side.BUY, OrderType.MARKET, D("0.5"))
    for write in (venue.place(order), venue.cancel(SYMBOL, "42")):
        outcome = await write
        if isinstance(outcome, Accepted):
            assert 200 <= status < 300 and _is_our_order(text)
    for read in (
        venue.query(SYMBOL, "42"),
        venue.open_orders(SYMBOL),
        venue.position(SYMBOL),
        venue.fills(SYMBOL, "42"),
        venue.quote(SYMBOL),
    ):
        with contextlib.suppress(VenueError):
            await read
