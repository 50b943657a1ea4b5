"""How the Aster client classifies every reply (docs/venues/aster.md#errors), retries reads,
backs off on rate limits, and keeps its secrets, against a canned-response server on
127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from test_client_aster_kit import (
    CLIENT_ID,
    FAST,
    SECRET_VALUES,
    SYMBOL,
    Canned,
    CannedServer,
    Clock,
    canned,
    canned_server,
    error,
    free_port,
    garbage_server,
    make_venue,
    order_json,
)

from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.aster.http import WeightBudget
from hedged.adapters.aster.wire import AMBIGUOUS_CODES, CLOCK_SKEW, REJECT_CODES
from hedged.adapters.base import EXPIRED, NOT_SENT, Accepted, Ambiguous, Rejected, VenueError
from hedged.adapters.clock import ServerClock
from hedged.adapters.http import HttpPolicy
from hedged.model import (
    Fill,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SymbolRules,
)

D = Decimal
NOW = 1_750_000_010.0  # 50 s into the venue's minute
ORDER = "/fapi/v3/order"
MARKET_SELL = OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, D("0.010"))

# Every code the brief names; each must be a definite rejection.
NAMED_CODES = (
    -1102, -1111, -1116, -1117, -1121, -2010, -2018, -2019, -2021, -2022, -2024, -4003, -4004,
    -4005, -4013, -4014, -4015, -4016, -4023, -4024, -4061, -4062, -4116, -4118, -4131, -4164,
)  # fmt: skip


@pytest.fixture
async def server() -> AsyncIterator[CannedServer]:
    async with canned_server(Clock(NOW)) as canned_venue:
        yield canned_venue


@contextlib.asynccontextmanager
async def started(server: CannedServer, auth: str = "v3") -> AsyncIterator[AsterVenue]:
    venue = make_venue(server.url, auth="v1" if auth == "v1" else "v3", clock=server.clock)
    await venue.start()
    try:
        yield venue
    finally:
        await venue.close()


def test_every_named_code_is_in_the_rejection_table() -> None:
    assert set(NAMED_CODES) <= set(REJECT_CODES)
    assert not set(REJECT_CODES) & set(AMBIGUOUS_CODES)


# --- writes: every mapped code ------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(REJECT_CODES))
async def test_every_mapped_code_rejects_place_and_cancel(server: CannedServer, code: int) -> None:
    server.script("POST", ORDER, error(code, "the venue's words"))
    server.script("DELETE", ORDER, error(code, "the venue's words"))
    refused = Rejected(EXPIRED if code == CLOCK_SKEW else str(code), "the venue's words")
    async with started(server) as venue:  # -1021: the venue did not act; signed anew it may
        assert await venue.place(MARKET_SELL) == refused
        assert await venue.cancel(SYMBOL, CLIENT_ID) == refused
    assert len(server.calls("POST", ORDER)) == len(server.calls("DELETE", ORDER)) == 1


@pytest.mark.parametrize("code", [*sorted(AMBIGUOUS_CODES), -1, -9999, -4999])
async def test_ambiguous_and_unknown_codes_are_ambiguous(server: CannedServer, code: int) -> None:
    server.script("POST", ORDER, error(code))
    server.script("DELETE", ORDER, error(code))
    async with started(server) as venue:
        assert isinstance(await venue.place(MARKET_SELL), Ambiguous)
        assert isinstance(await venue.cancel(SYMBOL, CLIENT_ID), Ambiguous)
    assert len(server.calls("POST", ORDER)) == 1


@pytest.mark.parametrize("status", [429, 418])
async def test_rate_limit_refusal_of_an_order_is_rejected(
    server: CannedServer, status: int
) -> None:
    """The venue refuses -1003/-1015 at the gate, before acting (4xx = the sender's side)."""
    server.script("POST", ORDER, error(-1003, "Too many requests", status))
    async with started(server) as venue:
        assert await venue.place(MARKET_SELL) == Rejected("-1003", "Too many requests")


# --- writes: transport failures and odd bodies ------------------------------------------------

ORDER_BODY = canned(order_json())
AMBIGUOUS_ANSWERS = {
    "timeout": Canned(mode="slow", delay=2.0),
    "reset before any answer": Canned(mode="drop"),
    "truncated order body": Canned(200, ORDER_BODY.body, mode="truncate"),
    "truncated error body": Canned(400, error(-2019).body, mode="truncate"),
    "503 execution unknown": error(-1007, "execution status unknown", 503),
    "503 with a rejection code": error(-2019, "Margin is insufficient.", 503),
    "500 html": Canned(500, b"<html>Internal Server Error</html>"),
    "502 empty": Canned(502, b""),
    "504 text": Canned(504, b"Gateway Timeout"),
    "200 empty": Canned(200, b""),
    "200 html": Canned(200, b"<html>ok</html>"),
    "200 not an order": canned({"foo": 1}),
    "200 an error body": canned({"code": -2019, "msg": "Margin is insufficient."}),
    "200 another client id": canned(order_json("someone-else")),
    "200 another symbol": canned(order_json(symbol="ETHUSDT")),
    "200 NaN quantity": Canned(200, ORDER_BODY.body.replace(b'"0.010"', b"NaN")),
    "200 float quantity": Canned(
        200, ORDER_BODY.body.replace(b'"origQty": "0.010"', b'"origQty": true')
    ),
    "200 filled more than ordered": canned(order_json(executed="0.020")),
    "200 unknown status": canned(order_json(status="NEW_ADL")),
    "200 invalid utf-8": Canned(200, b"\xff\xfe{"),
    "400 html": Canned(400, b"<html>Bad Request</html>"),
    "403 waf": Canned(403, b"Forbidden"),
    "429 without a body": Canned(429, b""),
    "302 redirect": Canned(302, b"", {"Location": "/elsewhere"}),
    "401 unknown code": error(-9999, "?", 401),
    "400 code not negative": canned({"code": 5, "msg": "?"}, 400),
}


@pytest.mark.parametrize("answer", AMBIGUOUS_ANSWERS.values(), ids=AMBIGUOUS_ANSWERS.keys())
async def test_unclear_answers_are_ambiguous_and_never_resent(
    server: CannedServer, answer: Canned
) -> None:
    server.script("POST", ORDER, answer)
    server.script("DELETE", ORDER, answer)
    async with started(server) as venue:
        placed = await venue.place(MARKET_SELL)
        cancelled = await venue.cancel(SYMBOL, CLIENT_ID)
    assert isinstance(placed, Ambiguous), placed
    assert isinstance(cancelled, Ambiguous), cancelled
    assert len(server.calls("POST", ORDER)) == len(server.calls("DELETE", ORDER)) == 1


async def test_refused_connection_is_ambiguous(server: CannedServer) -> None:
    async with started(server) as venue:
        venue._http.base_url = f"http://127.0.0.1:{free_port()}"
        assert isinstance(await venue.place(MARKET_SELL), Ambiguous)
        assert isinstance(await venue.cancel(SYMBOL, CLIENT_ID), Ambiguous)
        with pytest.raises(VenueError):
            await venue.query(SYMBOL, CLIENT_ID)


@pytest.mark.parametrize(
    "reply", [b"HELLO\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{"]
)
async def test_a_server_that_is_not_http_is_ambiguous(server: CannedServer, reply: bytes) -> None:
    async with started(server) as venue, garbage_server(reply) as url:
        venue._http.base_url = url
        assert isinstance(await venue.place(MARKET_SELL), Ambiguous)
        with pytest.raises(VenueError):
            await venue.query(SYMBOL, CLIENT_ID)


async def test_a_parseable_order_is_accepted_with_its_fields(server: CannedServer) -> None:
    server.script("POST", ORDER, canned(order_json()))
    server.script(
        "DELETE",
        ORDER,
        canned(
            order_json(
                status="CANCELED", type_="LIMIT", price="61000.0", side="BUY", reduce_only=True
            )
        ),
    )
    async with started(server) as venue:
        placed = await venue.place(MARKET_SELL)
        cancelled = await venue.cancel(SYMBOL, CLIENT_ID)
    assert placed == Accepted(
        OrderState(
            client_id=CLIENT_ID,
            venue_order_id="8886774",
            symbol=SYMBOL,
            side=Side.SELL,
            type=OrderType.MARKET,
            status=OrderStatus.FILLED,
            qty=D("0.010"),
            filled_qty=D("0.010"),
            avg_price=D("60000.10"),
        )
    )
    assert isinstance(cancelled, Accepted)
    assert cancelled.order.status is OrderStatus.CANCELED
    assert (cancelled.order.price, cancelled.order.reduce_only) == (D("61000.0"), True)
    (cancel,) = server.calls("DELETE", ORDER)
    assert parse_qsl(cancel.query)[:2] == [("symbol", SYMBOL), ("origClientOrderId", CLIENT_ID)]


@pytest.mark.parametrize(
    "order",
    [
        OrderRequest(CLIENT_ID, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.01")),
        OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, D("0.01"), price=D(1)),
        OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, D(0)),
        OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, D("0.01"), post_only=True),
        OrderRequest(CLIENT_ID, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.01"), price=D(-1)),
    ],
    ids=["limit-without-price", "market-with-price", "zero-qty", "post-only-market", "neg-price"],
)
async def test_invalid_requests_are_rejected_without_sending(
    server: CannedServer, order: OrderRequest
) -> None:
    async with started(server) as venue:
        outcome = await venue.place(order)
    assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
    assert server.calls("POST", ORDER) == []


async def test_place_before_start_is_not_sent(server: CannedServer) -> None:
    venue = make_venue(server.url, clock=server.clock)
    outcome = await venue.place(MARKET_SELL)
    assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
    assert server.seen == []


# --- reads ---------------------------------------------------------------------------------


async def test_query_unknown_order_is_none(server: CannedServer) -> None:
    server.script("GET", ORDER, error(-2013, "Order does not exist."))
    async with started(server) as venue:
        assert await venue.query(SYMBOL, CLIENT_ID) is None


@pytest.mark.parametrize(
    "trouble",
    [
        Canned(mode="drop"),
        Canned(mode="slow", delay=2.0),
        error(-1007, "unknown", 503),
        Canned(502, b""),
        Canned(200, b"{"),
        Canned(200, b'{"a"', mode="truncate"),
    ],
    ids=["reset", "timeout", "503", "502", "200-garbage", "truncated"],
)
async def test_reads_retry_transport_trouble(server: CannedServer, trouble: Canned) -> None:
    server.script("GET", ORDER, trouble, canned(order_json(status="NEW", type_="LIMIT")))
    async with started(server) as venue:
        state = await venue.query(SYMBOL, CLIENT_ID)
    assert state is not None and state.status is OrderStatus.NEW
    assert len(server.calls("GET", ORDER)) == 2


async def test_reads_give_up_with_venue_error_after_bounded_attempts(server: CannedServer) -> None:
    server.script("GET", ORDER, *[Canned(mode="drop")] * 10)
    async with started(server) as venue:
        with pytest.raises(VenueError, match="gave up after 3 attempts"):
            await venue.query(SYMBOL, CLIENT_ID)
    assert len(server.calls("GET", ORDER)) == FAST.read_attempts


async def test_a_definite_read_error_is_not_retried(server: CannedServer) -> None:
    server.script("GET", ORDER, error(-1121, "Invalid symbol."))
    async with started(server) as venue:
        with pytest.raises(VenueError, match="-1121"):
            await venue.query(SYMBOL, CLIENT_ID)
    assert len(server.calls("GET", ORDER)) == 1


@pytest.mark.parametrize(
    "answer",
    [canned(order_json("someone-else")), canned(None), canned([]), canned({"code": -2013})],
    ids=["someone-else", "null", "array", "200-with-2013"],
)
async def test_query_answers_that_are_not_our_order_are_errors(
    server: CannedServer, answer: Canned
) -> None:
    server.script("GET", ORDER, answer)
    async with started(server) as venue:
        with pytest.raises(VenueError):
            await venue.query(SYMBOL, CLIENT_ID)


# --- clock ------------------------------------------------------------------------------------


async def test_minus_1021_on_a_read_resyncs_the_clock_and_retries(server: CannedServer) -> None:
    v1_order = "/fapi/v1/order"
    server.script("GET", v1_order, error(-1021, "outside of the recvWindow"), canned(order_json()))
    async with started(server, auth="v1") as venue:
        assert await venue.query(SYMBOL, CLIENT_ID) is not None
    assert len(server.calls("GET", "/fapi/v1/time")) == 2  # start, then the re-sync


async def test_minus_1021_on_an_order_resyncs_and_is_rejected(server: CannedServer) -> None:
    server.script("POST", "/fapi/v1/order", error(-1021, "outside of the recvWindow"))
    async with started(server, auth="v1") as venue:
        assert await venue.place(MARKET_SELL) == Rejected(EXPIRED, "outside of the recvWindow")
    assert len(server.calls("GET", "/fapi/v1/time")) == 2
    assert len(server.calls("POST", "/fapi/v1/order")) == 1


# --- rate limits --------------------------------------------------------------------------------


async def test_a_read_honours_retry_after(server: CannedServer) -> None:
    busy = error(-1003, "Too many requests", 429)
    server.script("GET", ORDER, Canned(busy.status, busy.body, {"retry-after": "0.4"}))
    server.script("GET", ORDER, canned(order_json()))
    async with started(server) as venue:
        began = time.monotonic()
        assert await venue.query(SYMBOL, CLIENT_ID) is not None
        waited = time.monotonic() - began
    assert waited >= 0.4
    assert len(server.calls("GET", ORDER)) == 2


async def test_a_long_ban_fails_reads_fast_and_keeps_orders_unsent(server: CannedServer) -> None:
    banned = error(-1003, "Way too many requests; IP banned", 418)
    server.script("GET", ORDER, Canned(banned.status, banned.body, {"Retry-After": "300"}))
    async with started(server) as venue:
        with pytest.raises(VenueError, match="back-off"):
            await venue.query(SYMBOL, CLIENT_ID)
        outcome = await venue.place(MARKET_SELL)
        with pytest.raises(VenueError, match="back-off"):
            await venue.position(SYMBOL)
    assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
    assert len(server.calls("GET", ORDER)) == 1
    assert server.calls("POST", ORDER) == []


async def test_the_order_count_limit_stops_orders_but_not_reads(server: CannedServer) -> None:
    refused = error(-1015, "Too many new orders", 429)
    server.script("POST", ORDER, Canned(refused.status, refused.body, {"Retry-After": "300"}))
    server.script("GET", ORDER, canned(order_json()))
    async with started(server) as venue:
        assert await venue.place(MARKET_SELL) == Rejected("-1015", "Too many new orders")
        outcome = await venue.place(MARKET_SELL)
        assert await venue.query(SYMBOL, CLIENT_ID) is not None
    assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
    assert len(server.calls("POST", ORDER)) == 1


async def test_a_short_back_off_delays_an_order_instead(server: CannedServer) -> None:
    busy = error(-1003, "Too many requests", 429)
    server.script("POST", ORDER, Canned(busy.status, busy.body, {"Retry-After": "0.3"}))
    server.script("POST", ORDER, canned(order_json()))
    async with started(server) as venue:
        assert await venue.place(MARKET_SELL) == Rejected("-1003", "Too many requests")
        began = time.monotonic()
        assert isinstance(await venue.place(MARKET_SELL), Accepted)
        assert time.monotonic() - began >= 0.25


async def test_used_weight_keeps_reads_far_below_the_budget(server: CannedServer) -> None:
    """Past 40 % of the 2400/min budget no round opens (the venue is crowded); past half
    reads wait for the next minute (here longer than `max_wait`, so they fail at once);
    orders still go until 85 %."""
    heavy = {"x-mbx-used-weight-1m": "1300"}  # any case: HTTP/2 proxies lowercase names
    server.script("GET", ORDER, canned(order_json(), headers={"X-MBX-USED-WEIGHT-1M": "950"}))
    server.script("GET", ORDER, canned(order_json(), headers=heavy))
    server.script("POST", ORDER, canned(order_json(), headers={"X-MBX-USED-WEIGHT-1M": "2100"}))
    async with started(server) as venue:
        assert await venue.query(SYMBOL, CLIENT_ID) is not None
        assert not venue.crowded()  # 950 of 2400: new rounds may still open
        assert await venue.query(SYMBOL, CLIENT_ID) is not None
        assert venue.used_weight == 1300 and venue.crowded()
        with pytest.raises(VenueError, match="back-off"):
            await venue.query(SYMBOL, CLIENT_ID)
        assert isinstance(await venue.place(MARKET_SELL), Accepted)
        outcome = await venue.place(MARKET_SELL)
    assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
    assert len(server.calls("GET", ORDER)) == 2
    assert len(server.calls("POST", ORDER)) == 1


def test_an_answer_arriving_after_the_minute_turned_does_not_count_for_the_new_one() -> None:
    """The used weight an answer reports is the minute it was sent in: one sent at 59.9 s
    and answered at 60.1 s must not hold reads back for the whole of the next minute."""
    now = [1_800_000_059.9]
    budget = WeightBudget(ServerClock(lambda: now[0]), HttpPolicy())
    window = budget.charge(1)
    now[0] += 0.2  # the answer arrives in the next minute
    budget.observe(200, {"X-MBX-USED-WEIGHT-1M": "1300"}, None, window)
    assert budget.delay(1, write=False) == 0 and not budget.crowded()
    budget.observe(200, {"X-MBX-USED-WEIGHT-1M": "1300"}, None, budget.charge(1))
    assert budget.delay(1, write=False) > 59 and budget.crowded()  # this minute's own


# --- start, account and market reads -----------------------------------------------------------


async def test_start_reads_rules_mode_and_sets_leverage_and_margin(server: CannedServer) -> None:
    async with started(server) as venue:
        assert await venue.rules(SYMBOL) == SymbolRules(
            SYMBOL,
            tick=D("0.1"),
            step=D("0.001"),
            min_qty=D("0.001"),
            min_notional=D(5),
            max_qty=D(120),
        )
        assert venue.hedge_mode is False
        assert (await venue.rules("SOLUSDT")).symbol == "SOLUSDT"
    (leverage,) = server.calls("POST", "/fapi/v3/leverage")
    assert parse_qsl(leverage.body)[:2] == [("symbol", SYMBOL), ("leverage", "1")]
    (margin,) = server.calls("POST", "/fapi/v3/marginType")  # -4046: already so
    assert parse_qsl(margin.body)[:2] == [("symbol", SYMBOL), ("marginType", "CROSSED")]


async def test_start_tolerates_a_margin_type_locked_by_a_position(server: CannedServer) -> None:
    server.script("POST", "/fapi/v3/marginType", error(-4048, "position exists"))
    async with started(server) as venue:
        assert venue.hedge_mode is False


async def test_start_fails_on_a_leverage_refusal(server: CannedServer) -> None:
    server.script("POST", "/fapi/v3/leverage", error(-4028, "Leverage 1 is not valid"))
    venue = make_venue(server.url, clock=server.clock)
    with pytest.raises(VenueError, match="-4028"):
        await venue.start()


async def test_quote_from_book_ticker(server: CannedServer) -> None:
    server.script(
        "GET",
        "/fapi/v1/ticker/bookTicker",
        canned(
            {
                "symbol": SYMBOL,
                "bidPrice": "60000.1",
                "bidQty": "1",
                "askPrice": "60000.2",
                "askQty": "2",
                "time": 1,
            }
        ),
    )
    async with started(server) as venue:
        before = time.monotonic()
        quote = await venue.quote(SYMBOL)
    assert (quote.venue, quote.symbol, quote.bid, quote.ask) == (
        "aster",
        SYMBOL,
        D("60000.1"),
        D("60000.2"),
    )
    assert quote.at >= before


async def test_position_nets_hedge_mode_rows(server: CannedServer) -> None:
    def row(amount: str, side: str, entry: str) -> dict[str, str]:
        return {"symbol": SYMBOL, "positionAmt": amount, "entryPrice": entry, "positionSide": side}

    server.script(
        "GET",
        "/fapi/v3/positionRisk",
        canned([row("0", "LONG", "0"), row("-0.010", "SHORT", "60000.1")]),
    )
    server.script("GET", "/fapi/v3/positionRisk", canned([row("0", "BOTH", "0")]))
    async with started(server) as venue:
        assert await venue.position(SYMBOL) == Position("aster", SYMBOL, D("-0.010"), D("60000.1"))
        assert await venue.position(SYMBOL) == Position("aster", SYMBOL, D(0), None)


async def test_open_orders_lists_our_stops_and_skips_other_conditional_orders(
    server: CannedServer,
) -> None:
    server.script(
        "GET",
        "/fapi/v3/openOrders",
        canned(
            [
                order_json(status="NEW", type_="LIMIT", price="59000"),
                {**order_json("stop-1", status="NEW"), "type": "STOP_MARKET", "stopPrice": "61200"},
                {**order_json("tp-1", status="NEW"), "type": "TAKE_PROFIT_MARKET"},
            ]
        ),
    )
    async with started(server) as venue:
        orders = await venue.open_orders(SYMBOL)
    assert [(o.client_id, o.type, o.price, o.trigger_price) for o in orders] == [
        (CLIENT_ID, OrderType.LIMIT, D(59000), None),
        ("stop-1", OrderType.STOP_MARKET, None, D(61200)),
    ]


async def test_fills_are_the_order_s_trades_with_commission(server: CannedServer) -> None:
    def trade(trade_id: int, order_id: int, qty: str, commission: str) -> dict[str, object]:
        return {
            "symbol": SYMBOL, "id": trade_id, "orderId": order_id, "side": "SELL",
            "price": "60000.1", "qty": qty, "commission": commission, "commissionAsset": "USDT",
            "maker": False,
        }  # fmt: skip

    server.script("GET", ORDER, canned(order_json()))
    server.script(
        "GET",
        "/fapi/v3/userTrades",
        canned(
            [
                trade(1, 8886774, "0.004", "0.084"),
                trade(2, 999, "1", "9"),
                trade(3, 8886774, "0.006", "0.126"),
            ]
        ),
    )
    async with started(server) as venue:
        fills = await venue.fills(SYMBOL, CLIENT_ID)
    assert fills == [
        Fill("aster", SYMBOL, CLIENT_ID, "1", Side.SELL, D("0.004"), D("60000.1"), D("0.084")),
        Fill("aster", SYMBOL, CLIENT_ID, "3", Side.SELL, D("0.006"), D("60000.1"), D("0.126")),
    ]
    (trades,) = server.calls("GET", "/fapi/v3/userTrades")
    assert dict(parse_qsl(trades.query))["startTime"] == str(1750000000000 - 1000)


async def test_fills_of_an_unknown_order_are_none(server: CannedServer) -> None:
    server.script("GET", ORDER, error(-2013, "Order does not exist."))
    async with started(server) as venue:
        assert await venue.fills(SYMBOL, CLIENT_ID) == []


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["v1", "v3"])
async def test_secrets_never_show(
    server: CannedServer, auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    order_path = f"/fapi/{auth}/order"
    server.script("POST", order_path, Canned(mode="drop"), error(-2019, "Margin is insufficient."))
    server.script("GET", order_path, *[Canned(503, b"<html>")] * 5)
    async with started(server, auth=auth) as venue:
        shown += [repr(venue), str(venue), repr(venue._http), repr(venue._user)]
        shown += [repr(await venue.place(MARKET_SELL)), repr(await venue.place(MARKET_SELL))]
        try:
            await venue.query(SYMBOL, CLIENT_ID)
        except VenueError as e:
            shown += [str(e), repr(e)]
        venue._http.base_url = f"http://127.0.0.1:{free_port()}"
        shown.append(repr(await venue.place(MARKET_SELL)))
    broken = make_venue(
        f"http://127.0.0.1:{free_port()}", auth="v1" if auth == "v1" else "v3", clock=server.clock
    )
    with pytest.raises(VenueError) as failed:
        await broken.start()
    shown += [str(failed.value), repr(failed.value), repr(broken)]
    shown += [r.getMessage() for r in caplog.records] + [caplog.text]
    text = "\n".join(shown)
    assert "Margin is insufficient" in text  # the outcomes are in there
    for secret in SECRET_VALUES:
        assert secret not in text
