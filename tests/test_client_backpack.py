"""The Backpack client's writes: the signing vectors (docs/venues/backpack.md#test-vectors) through
the client's own request path, the classification of every mapped error and every
transport failure (docs/venues/backpack.md#errors), no order ever sent twice, client ids, and
credentials kept out of logs, errors and reprs."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_client_backpack_kit import (
    API_KEY,
    SECRET,
    SYMBOL,
    T0_MS,
    Answer,
    Canned,
    PinnedClock,
    canned_server,
    credentials,
    drop,
    hang,
    order_json,
    raw_server,
    reply,
    truncated,
    venue_on,
)

from hedged import ids
from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.backpack.signing import signing_string
from hedged.adapters.backpack.wire import AMBIGUOUS_CODES, DEFINITE_CODES
from hedged.adapters.base import EXPIRED, Accepted, Ambiguous, Outcome, Rejected, Venue, VenueError
from hedged.config import BackpackConfig
from hedged.model import OrderRequest, OrderStatus, OrderType, Side
from hedged.sim.backpack.signing import verify

D = Decimal
ORDER = "/api/v1/order"
EXECUTE_SIG = (
    "cKQnGfylMctDAExpivfLgX92IGLgheXYCyKrQZiHvkOxA6dG7ivCBN+RDwHgazh/EPLz2Cf1ihVQiSOAqGZsBg=="
)
CANCEL_SIG = (
    "5JNvIFup6BvOx0ITxfxtEn5ac317vAI78vza6AWOyTvrzDTlVnO/T0dQazXuJmS4WJbLnm17ydL4EwqW5+6aBA=="
)
OTHER_SECRET = base64.b64encode(bytes([2] * 32)).decode()
MARKET_BUY = OrderRequest("42", SYMBOL, Side.BUY, OrderType.MARKET, D("0.5"))
TAKE_PROFIT = OrderRequest(
    "7", SYMBOL, Side.SELL, OrderType.LIMIT, D("1.50"), D("160.00"), reduce_only=True
)


def pinned() -> PinnedClock:
    return PinnedClock(T0_MS / 1000)


async def place_with(*answers: Answer, order: OrderRequest = MARKET_BUY) -> tuple[Outcome, Canned]:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("POST", ORDER, *answers)
        outcome = await venue.place(order)
        return outcome, canned


# -- the signing vectors through the client ------------------------------------------------


async def test_market_order_goes_out_as_the_reference_vector() -> None:
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=pinned()) as venue,
    ):
        canned.on("POST", ORDER, reply(200, order_json()))
        outcome = await venue.place(MARKET_BUY)
    assert isinstance(outcome, Accepted)
    [sent] = canned.requests("POST", ORDER)
    assert sent.body == (
        '{"clientId":42,"orderType":"Market","quantity":"0.5","side":"Bid","symbol":"SOL_USDC_PERP"}'
    )
    assert sent.headers["X-API-Key"] == API_KEY
    assert sent.headers["X-Signature"] == EXECUTE_SIG
    assert sent.headers["X-Timestamp"] == str(T0_MS)
    assert sent.headers["X-Window"] == "5000"
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"


async def test_quantity_is_sent_without_trailing_zeros() -> None:
    """ "0.50" and "0.5" are the same order; only one text signs as the vector."""
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=pinned()) as venue,
    ):
        canned.on("POST", ORDER, reply(200, order_json()))
        await venue.place(OrderRequest("42", SYMBOL, Side.BUY, OrderType.MARKET, D("0.50")))
    [sent] = canned.requests("POST", ORDER)
    assert json.loads(sent.body)["quantity"] == "0.5"
    assert sent.headers["X-Signature"] == EXECUTE_SIG


async def test_cancel_vector_through_the_request_builder_and_the_wire() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        http = venue._http
        request = http.prepare(
            "DELETE", ORDER, {"orderId": 28, "symbol": "BTC_USDT"}, "orderCancel", 1614550000000
        )
        assert request.body == '{"orderId":28,"symbol":"BTC_USDT"}'
        assert request.headers["X-Signature"] == CANCEL_SIG
        assert request.headers["X-Timestamp"] == "1614550000000"
        await http.send(request)
    [sent] = canned.requests("DELETE", ORDER)
    assert sent.body == '{"orderId":28,"symbol":"BTC_USDT"}'
    assert sent.headers["X-Signature"] == CANCEL_SIG
    assert sent.headers["X-API-Key"] == API_KEY


async def test_limit_order_signs_lowercase_booleans_and_sorted_params() -> None:
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=pinned()) as venue,
    ):
        canned.on("POST", ORDER, reply(400, {"code": "INVALID_ORDER", "message": "x"}))
        await venue.place(
            OrderRequest(
                "7", SYMBOL, Side.SELL, OrderType.LIMIT, D("1.5"), D("160"), True, post_only=True
            )
        )
    [sent] = canned.requests("POST", ORDER)
    assert json.loads(sent.body) == {
        "clientId": 7,
        "orderType": "Limit",
        "postOnly": True,
        "price": "160",
        "quantity": "1.5",
        "reduceOnly": True,
        "side": "Ask",
        "symbol": SYMBOL,
        "timeInForce": "GTC",
    }
    expected = (
        "instruction=orderExecute&clientId=7&orderType=Limit&postOnly=true&price=160"
        "&quantity=1.5&reduceOnly=true&side=Ask&symbol=SOL_USDC_PERP&timeInForce=GTC"
        f"&timestamp={T0_MS}&window=5000"
    )
    assert verify(API_KEY, expected, sent.headers["X-Signature"])


async def test_cancel_by_client_id_signs_its_body() -> None:
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=pinned()) as venue,
    ):
        canned.on("DELETE", ORDER, reply(200, order_json(status="Cancelled")))
        await venue.cancel(SYMBOL, "42")
    [sent] = canned.requests("DELETE", ORDER)
    assert sent.body == '{"clientId":42,"symbol":"SOL_USDC_PERP"}'
    message = signing_string("orderCancel", {"clientId": 42, "symbol": SYMBOL}, T0_MS, 5000)
    assert verify(API_KEY, message, sent.headers["X-Signature"])


async def test_signed_get_carries_its_params_in_the_query() -> None:
    async with (
        canned_server(server_ms=lambda: T0_MS) as canned,
        venue_on(canned, clock=pinned()) as venue,
    ):
        canned.on("GET", ORDER, reply(200, order_json(status="New")))
        await venue.query(SYMBOL, "42")
    [sent] = canned.requests("GET", ORDER)
    assert sent.query == {"clientId": "42", "symbol": SYMBOL}
    assert sent.body == ""
    message = f"instruction=orderQuery&clientId=42&symbol={SYMBOL}&timestamp={T0_MS}&window=5000"
    assert verify(API_KEY, message, sent.headers["X-Signature"])


async def test_public_requests_are_not_signed() -> None:
    async with canned_server() as canned, venue_on(canned):
        pass
    for seen in canned.seen:
        assert "X-Signature" not in seen.headers
        assert "X-API-Key" not in seen.headers


async def test_timestamps_follow_the_venue_clock() -> None:
    """Our clock 30 s behind the venue: requests carry the venue's time, window as configured."""
    async with (
        canned_server(server_ms=lambda: T0_MS + 30_000) as canned,
        venue_on(canned, clock=pinned(), window_ms=20_000) as venue,
    ):
        assert venue.signature_window == 20.0
        assert abs(venue.clock_offset_ms - 30_000) <= 1
        canned.on("POST", ORDER, reply(200, order_json()))
        await venue.place(MARKET_BUY)
    [sent] = canned.requests("POST", ORDER)
    assert abs(int(sent.headers["X-Timestamp"]) - (T0_MS + 30_000)) <= 1
    assert sent.headers["X-Window"] == "20000"


# -- classification: accepted --------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        ("New", OrderStatus.NEW),
        ("PartiallyFilled", OrderStatus.PARTIALLY_FILLED),
        ("Filled", OrderStatus.FILLED),
        ("Cancelled", OrderStatus.CANCELED),
        ("Expired", OrderStatus.EXPIRED),
    ],
)
async def test_an_order_answer_is_accepted_with_its_status(wire: str, status: OrderStatus) -> None:
    outcome, canned = await place_with(
        reply(200, order_json(status=wire, executed="0.5", executed_quote="75.01"))
    )
    assert isinstance(outcome, Accepted)
    order = outcome.order
    assert (order.client_id, order.venue_order_id, order.symbol) == ("42", "111", SYMBOL)
    assert (order.side, order.type, order.status) == (Side.BUY, OrderType.MARKET, status)
    assert (order.qty, order.filled_qty, order.avg_price) == (D("0.5"), D("0.5"), D("150.02"))
    assert len(canned.requests("POST", ORDER)) == 1


async def test_a_resting_reduce_only_limit_is_accepted() -> None:
    body = order_json(
        7,
        status="New",
        order_type="Limit",
        side="Ask",
        qty="1.5",
        executed="0",
        executed_quote="0",
        price="160",
        reduce_only=True,
    )
    outcome, _ = await place_with(reply(200, body), order=TAKE_PROFIT)
    assert isinstance(outcome, Accepted)
    order = outcome.order
    assert (order.type, order.status, order.price, order.reduce_only) == (
        OrderType.LIMIT,
        OrderStatus.NEW,
        D("160"),
        True,
    )
    assert order.filled_qty == 0 and order.avg_price is None


# -- classification: rejected --------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(DEFINITE_CODES))
async def test_every_definite_code_is_rejected(code: str) -> None:
    outcome, canned = await place_with(reply(400, {"code": code, "message": "refused"}))
    assert outcome == Rejected(code, "refused")
    assert len(canned.requests("POST", ORDER)) == 1


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "INVALID_CLIENT_REQUEST", "Invalid signature"),
        (400, "INVALID_CLIENT_REQUEST", "Invalid X-Signature header"),
        (400, "INVALID_CLIENT_REQUEST", "Quantity decimal too long"),
        (400, "INVALID_CLIENT_REQUEST", "Price decimal too long"),
        (
            400,
            "INVALID_CLIENT_REQUEST",
            "Market orders must specify a `quantity` or `quoteQuantity`",
        ),
        (400, "INVALID_ORDER", "Order with client ID already exists: 42"),
        (400, "INVALID_ORDER", "Order would immediately match and take"),
        (400, "INVALID_ORDER", "Invalid order"),
        (400, "INSUFFICIENT_MARGIN", "Insufficient margin"),
        (401, "UNAUTHORIZED", "API key not found"),
        (403, "FORBIDDEN", "Forbidden"),
        (404, "RESOURCE_NOT_FOUND", "Not Found"),
    ],
)
async def test_documented_refusals_are_rejected(status: int, code: str, message: str) -> None:
    outcome, canned = await place_with(reply(status, {"code": code, "message": message}))
    assert outcome == Rejected(code, message)
    assert len(canned.requests("POST", ORDER)) == 1


async def test_an_expired_request_is_rejected_and_the_clock_resynced() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        body = {"code": "INVALID_CLIENT_REQUEST", "message": "Request has expired"}
        canned.on("POST", ORDER, reply(400, body))
        outcome = await venue.place(MARKET_BUY)
    assert outcome == Rejected(EXPIRED, "Request has expired")  # the venue did not act
    assert len(canned.requests("POST", ORDER)) == 1
    assert len(canned.requests("GET", "/api/v1/time")) == 2  # start, then the resync


async def test_a_plain_text_payload_error_is_rejected() -> None:
    text = 'parse request payload error: failed to parse "MarketSymbol": Invalid market symbol'
    outcome, _ = await place_with(reply(400, text=text))
    assert outcome == Rejected("INVALID_CLIENT_REQUEST", text)


@pytest.mark.parametrize(
    "order",
    [
        OrderRequest("not-a-uint32", SYMBOL, Side.BUY, OrderType.MARKET, D(1)),
        OrderRequest(str(2**32), SYMBOL, Side.BUY, OrderType.MARKET, D(1)),
        OrderRequest("1", SYMBOL, Side.BUY, OrderType.LIMIT, D(1)),
        OrderRequest("1", SYMBOL, Side.BUY, OrderType.MARKET, D(0)),
        OrderRequest("1", SYMBOL, Side.BUY, OrderType.LIMIT, D(1), D(-5)),
    ],
)
async def test_an_order_that_cannot_be_sent_is_rejected_without_sending(
    order: OrderRequest,
) -> None:
    outcome, canned = await place_with(reply(200, order_json()), order=order)
    assert isinstance(outcome, Rejected) and outcome.code == "INVALID_REQUEST"
    assert canned.requests("POST", ORDER) == []


# -- classification: ambiguous -------------------------------------------------------------

AMBIGUOUS_ANSWERS: dict[str, Answer] = {
    **{f"400 {code}": reply(400, {"code": code, "message": "m"}) for code in AMBIGUOUS_CODES},
    "400 unknown code": reply(400, {"code": "SOMETHING_NEW", "message": "m"}),
    "400 not JSON": reply(400, text="Bad Request"),
    "404 html": reply(404, text="<html>not here</html>", content_type="text/html"),
    "408": reply(408, text="Request Timeout"),
    "429": reply(429, {"code": "TOO_MANY_REQUESTS", "message": "Too many requests"}),
    "429 Retry-After": reply(429, text="slow down", **{"Retry-After": "0"}),
    "500 empty": reply(500, text=""),
    "502 html": reply(502, text="<html>Bad Gateway</html>", content_type="text/html"),
    "503 unknown error": reply(
        503,
        {
            "code": "SERVER_ERROR",
            "message": "Unknown error, please check your request or try again later.",
        },
    ),
    "503 with a definite code": reply(503, {"code": "INVALID_ORDER", "message": "m"}),
    "504": reply(504, text="Gateway Timeout"),
    "302 redirect": reply(302, text="", Location="/elsewhere"),
    "200 garbage": reply(200, text="}{ not json"),
    "200 truncated JSON": reply(200, text=json.dumps(order_json())[:-20]),
    "200 empty": reply(200, text=""),
    "200 error object": reply(200, {"code": "INVALID_ORDER", "message": "m"}),
    "200 an array": reply(200, [order_json()]),
    "200 another client id": reply(200, order_json(43)),
    "200 no client id": reply(200, order_json(None)),
    "200 unknown status": reply(200, order_json(status="Exploded")),
    "200 float-less decimal": reply(200, {**order_json(), "executedQuantity": "lots"}),
    "202 accepted, not executed": reply(202, text=""),
    "connection dropped": drop(),
    "timeout": hang(),
    "truncated body": truncated(200, json.dumps(order_json()).encode()[:30]),
}


@pytest.mark.parametrize("case", sorted(AMBIGUOUS_ANSWERS))
async def test_unknown_outcomes_are_ambiguous_and_never_resent(case: str) -> None:
    outcome, canned = await place_with(AMBIGUOUS_ANSWERS[case], reply(200, order_json()))
    assert isinstance(outcome, Ambiguous), outcome
    assert len(canned.requests("POST", ORDER)) == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"this is not HTTP\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\nContent-Type: application/json\r\n\r\n{"id":',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"id\r\n',
        b"",
    ],
    ids=["not-http", "short-content-length", "broken-chunks", "hang-up"],
)
async def test_broken_http_is_ambiguous(raw: bytes) -> None:
    async with raw_server(raw) as url, canned_server() as canned, venue_on(canned) as venue:
        venue._http.base_url = url
        assert isinstance(await venue.place(MARKET_BUY), Ambiguous)
        assert isinstance(await venue.cancel(SYMBOL, "42"), Ambiguous)


async def test_connection_refused_is_ambiguous() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        venue._http.base_url = "http://127.0.0.1:1"
        outcome = await venue.place(MARKET_BUY)
    assert isinstance(outcome, Ambiguous)


async def test_a_429_on_an_order_holds_back_what_follows() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("POST", ORDER, reply(429, text="", **{"Retry-After": "30"}))
        assert isinstance(await venue.place(MARKET_BUY), Ambiguous)
        # Signed now, but the cooldown outlasts half its window: certainly never sent.
        outcome = await venue.place(TAKE_PROFIT)
    assert isinstance(outcome, Rejected) and outcome.code == "NOT_SENT"
    assert len(canned.requests("POST", ORDER)) == 1


# -- cancel --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (reply(200, order_json(status="Cancelled")), Accepted),
        (reply(404, {"code": "RESOURCE_NOT_FOUND", "message": "Not Found"}), Rejected),
        (reply(400, {"code": "INVALID_CLIENT_REQUEST", "message": "Order not found"}), Rejected),
        (reply(202, text=""), Ambiguous),
        (reply(503, text="unavailable"), Ambiguous),
        (reply(429, text=""), Ambiguous),
        (drop(), Ambiguous),
        (hang(), Ambiguous),
    ],
)
async def test_cancel_is_classified_and_sent_once(answer: Answer, expected: type) -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        canned.on("DELETE", ORDER, answer, reply(200, order_json(status="Cancelled")))
        outcome = await venue.cancel(SYMBOL, "42")
    assert isinstance(outcome, expected)
    assert len(canned.requests("DELETE", ORDER)) == 1
    if isinstance(outcome, Accepted):
        assert outcome.order.status is OrderStatus.CANCELED


async def test_cancel_of_an_impossible_client_id_sends_nothing() -> None:
    async with canned_server() as canned, venue_on(canned) as venue:
        outcome = await venue.cancel(SYMBOL, "hd0000-1")
    assert isinstance(outcome, Rejected)
    assert canned.requests("DELETE", ORDER) == []


# -- client ids ----------------------------------------------------------------------------


@given(st.integers(0, 2**12), st.integers(0, 2**24))
def test_client_ids_are_uint32_and_owned(namespace: int, seq: int) -> None:
    made = ids.backpack_client_id(namespace, seq)
    assert 0 <= int(made) < 2**32
    assert ids.backpack_owns(namespace, made)
    assert not ids.backpack_owns(namespace + 1, made)


def test_the_venue_makes_and_recognises_its_ids() -> None:
    venue: Venue = BackpackVenue(BackpackConfig(), credentials(), SYMBOL)  # the port, typed
    made = venue.client_id(3, 17)
    assert made == str((3 << 22) | 17)
    assert venue.owns(3, made) and not venue.owns(4, made)
    assert venue.name == "backpack" and venue.signature_window == 5.0


# -- secrets -------------------------------------------------------------------------------


def _shown(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + str(error)


async def test_credentials_never_show(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    async def echo(request: Any) -> Any:
        """A hostile venue that quotes our headers back in its error."""
        from aiohttp import web

        headers = dict(request.headers)
        return web.json_response({"code": "INVALID_ORDER", "message": str(headers)}, status=400)

    async with canned_server() as canned, venue_on(canned) as venue:
        texts += [repr(venue), str(venue), repr(venue._http), repr(venue.stream)]
        texts += [repr(venue._auth), str(vars(venue._auth)), str(vars(venue))]
        canned.on("POST", ORDER, echo, drop(), reply(503, text=SECRET))
        for _ in range(3):
            texts.append(repr(await venue.place(MARKET_BUY)))
        canned.on("GET", ORDER, reply(400, {"code": "X", "message": f"{API_KEY} {SECRET}"}))
        try:
            await venue.query(SYMBOL, "42")
        except Exception as e:
            texts.append(_shown(e))
        canned.on("GET", "/api/v1/orders", reply(200, text=f"garbage {SECRET}"))
        try:
            await venue.open_orders(SYMBOL)
        except Exception as e:
            texts.append(_shown(e))
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    assert any("***" in text for text in texts)  # the echo was seen, and masked
    for text in texts:
        assert SECRET not in text
        assert API_KEY not in text


@pytest.mark.parametrize(
    "secret",
    ["not base64 at all, but secret", "c2VjcmV0IHRvbyBzaG9ydA==", OTHER_SECRET],
    ids=["not-base64", "wrong-length", "another-key"],
)
async def test_start_refuses_a_secret_that_is_not_the_keys_without_showing_it(
    secret: str,
) -> None:
    async with canned_server() as canned:
        venue = BackpackVenue(canned.config(), credentials(secret=secret), SYMBOL)
        try:
            with pytest.raises(VenueError) as caught:
                await venue.start()
        finally:
            await venue.close()
    assert secret not in _shown(caught.value)
    assert API_KEY not in _shown(caught.value)
