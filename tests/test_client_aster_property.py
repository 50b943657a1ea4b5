"""Property: whatever bytes the venue answers (garbage, truncated, half-valid orders), reads
raise nothing but VenueError, and a write is Accepted only for a parseable order of ours and
Rejected only for a mapped venue code."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_client_aster_kit import (
    CLIENT_ID,
    SYMBOL,
    Canned,
    CannedServer,
    Clock,
    Mode,
    canned_server,
    make_venue,
    order_json,
)

from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.aster.wire import CLOCK_SKEW, REJECT_CODES, book_quote, order_update
from hedged.adapters.base import EXPIRED, Accepted, Ambiguous, Outcome, Rejected, VenueError
from hedged.adapters.errors import WireError
from hedged.adapters.http import HttpPolicy
from hedged.model import OrderRequest, OrderState, OrderType, Quote, Side

T = TypeVar("T")
NOW = 1_750_000_000.0
MARKET_SELL = OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, Decimal("0.010"))
TUNING = HttpPolicy(
    timeout=1.0,
    read_attempts=2,
    backoff=0.001,
    backoff_max=0.001,
    rate_limited_pause=0.0,
    banned_pause=0.0,
    weight_budget=10**9,  # the clock stands still, so the venue's minute never ends
)


class Harness:
    """A started venue and its canned server on a private event loop, for sync @given tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._server_cm = canned_server(Clock(NOW))
        self.server: CannedServer = self.run(self._server_cm.__aenter__())
        self.venue: AsterVenue = make_venue(
            self.server.url, clock=self.server.clock, http_policy=TUNING
        )
        self.run(self.venue.start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def answer(self, status: int, body: bytes, mode: Mode) -> None:
        self.server.fallback = Canned(status, body, mode=mode)
        self.server.seen.clear()

    def close(self) -> None:
        self.run(self.venue.close())
        self.run(self._server_cm.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


# --- strategies ------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.text(max_size=12)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def orders(draw: st.DrawFn) -> bytes:
    """Our order object with a few fields dropped or replaced by anything."""
    body: dict[str, Any] = order_json(
        draw(st.sampled_from([CLIENT_ID, "someone-else"])),
        status=draw(st.sampled_from(["NEW", "FILLED", "CANCELED", "EXPIRED", "NEW_ADL"])),
        symbol=draw(st.sampled_from([SYMBOL, "ETHUSDT"])),
    )
    for key in draw(st.lists(st.sampled_from(sorted(body)), unique=True, max_size=4)):
        if draw(st.booleans()):
            del body[key]
        else:
            body[key] = draw(json_values)
    return json.dumps(body).encode()


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    whole = draw(orders())
    return whole[: draw(st.integers(0, max(0, len(whole) - 1)))]


errors = st.builds(
    lambda code, msg: json.dumps({"code": code, "msg": msg}).encode(),
    st.sampled_from([*REJECT_CODES, -2013, -1021, -4225]) | st.integers(-10_000, 300),
    st.text(max_size=20),
)
bodies = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    orders(),
    truncated(),
    errors,
)
statuses = st.sampled_from([200, 201, 400, 401, 403, 404, 418, 429, 500, 502, 503]) | st.integers(
    200, 599
).filter(lambda s: s not in (204, 304))
modes: st.SearchStrategy[Mode] = st.sampled_from(["answer", "answer", "truncate", "drop"])
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parsed(body: bytes) -> Any:
    return json.loads(body, parse_float=Decimal)


def check_write(outcome: Outcome, status: int, body: bytes, mode: Mode) -> None:
    assert isinstance(outcome, Accepted | Rejected | Ambiguous)
    if isinstance(outcome, Accepted):
        assert mode == "answer" and 200 <= status < 300
        order = _parsed(body)  # parseable, or it could not have been accepted
        assert (order["clientOrderId"], order["symbol"]) == (CLIENT_ID, SYMBOL)
        assert outcome.order.qty == Decimal(order["origQty"])
        assert outcome.order.venue_order_id == str(order["orderId"])
        assert outcome.order.status.value == order["status"]
    if isinstance(outcome, Rejected):
        assert mode == "answer" and 400 <= status < 500
        code = CLOCK_SKEW if outcome.code == EXPIRED else int(outcome.code)
        assert code in REJECT_CODES and _parsed(body)["code"] == code


@PROPERTY
@given(status=statuses, body=bodies, mode=modes)
def test_place_and_cancel_classify_any_answer(
    harness: Harness, status: int, body: bytes, mode: Mode
) -> None:
    harness.answer(status, body, mode)
    check_write(harness.run(harness.venue.place(MARKET_SELL)), status, body, mode)
    check_write(harness.run(harness.venue.cancel(SYMBOL, CLIENT_ID)), status, body, mode)
    assert len([s for s in harness.server.seen if s.path == "/fapi/v3/order"]) == 2


async def _reads(venue: AsterVenue) -> list[object]:
    """Each read's result, or its VenueError; any other exception escapes."""
    results: list[object] = []
    for read in (
        lambda: venue.query(SYMBOL, CLIENT_ID),
        lambda: venue.open_orders(SYMBOL),
        lambda: venue.position(SYMBOL),
        lambda: venue.fills(SYMBOL, CLIENT_ID),
    ):
        try:
            results.append(await read())
        except VenueError as e:
            results.append(e)
    return results


@PROPERTY
@given(status=statuses, body=bodies, mode=modes)
def test_reads_raise_nothing_but_venue_error(
    harness: Harness, status: int, body: bytes, mode: Mode
) -> None:
    harness.answer(status, body, mode)
    query, *_ = harness.run(_reads(harness.venue))
    if query is None:
        assert mode == "answer" and 400 <= status < 500 and _parsed(body)["code"] == -2013
    elif isinstance(query, OrderState):
        assert mode == "answer" and 200 <= status < 300
        assert _parsed(body)["clientOrderId"] == query.client_id == CLIENT_ID
    else:
        assert isinstance(query, VenueError)


@given(event=json_values | st.builds(lambda o: {"e": "ORDER_TRADE_UPDATE", "o": o}, json_values))
def test_stream_parsers_raise_nothing_but_wire_error(event: object) -> None:
    with contextlib.suppress(WireError):
        assert order_update(event) is None or isinstance(order_update(event), OrderState)
    with contextlib.suppress(WireError):
        assert isinstance(book_quote("aster", event, 0.0), Quote)
