"""Aster JSON <-> model mapping: client ids, exchangeInfo filters, strict decimals, stream
events; and the user stream's handling of out-of-order and foreign events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st
from test_client_aster_kit import Clock, make_venue

from hedged import ids
from hedged.adapters.aster.wire import book_quote, order_update, symbol_rules
from hedged.adapters.base import Venue
from hedged.adapters.errors import WireError
from hedged.adapters.fields import decimal, decode
from hedged.adapters.ws import ReconnectHooks
from hedged.model import OrderState, OrderStatus, OrderType, Quote, Side, SymbolRules

D = Decimal


# --- client ids --------------------------------------------------------------------------------


@given(st.integers(0, 2**48), st.integers(0, 2**100))
def test_client_ids_are_hd_namespace_seq_within_the_venue_s_rule(namespace: int, seq: int) -> None:
    try:
        made = ids.aster_client_id(namespace, seq)
    except ValueError:
        assert len(f"hd{namespace:08x}-{seq}") > 36
        return
    assert made == f"hd{namespace:08x}-{seq}"
    assert ids.ASTER_CLIENT_ID.fullmatch(made)
    assert ids.aster_owns(namespace, made)
    assert not ids.aster_owns(namespace + 1, made)


@given(st.integers(0, 2**36), st.text(max_size=40))
def test_ownership_needs_our_prefix_and_a_sequence_number(namespace: int, suffix: str) -> None:
    owned = ids.aster_owns(namespace, f"hd{namespace:08x}-{suffix}")
    assert owned == (suffix.isascii() and suffix.isdigit())


def test_the_venue_makes_and_recognises_its_ids() -> None:
    venue: Venue = make_venue("http://127.0.0.1:1", clock=Clock(0.0))  # the port, typed
    assert (venue.name, venue.signature_window) == ("aster", 60.0)
    made = venue.client_id(3, 17)
    assert made == "hd00000003-17"
    assert venue.owns(3, made) and not venue.owns(4, made) and not venue.owns(3, "web_1")


# --- exchangeInfo -------------------------------------------------------------------------------


def info(*filters: dict[str, Any]) -> dict[str, Any]:
    return {"symbols": [{"symbol": "ETHUSDT", "filters": list(filters)}]}


PRICE = {"filterType": "PRICE_FILTER", "minPrice": "39.90", "maxPrice": "0", "tickSize": "0.10"}


def test_rules_fit_both_lot_filters() -> None:
    rules = symbol_rules(
        info(
            PRICE,
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.01",
                "maxQty": "120",
                "stepSize": "0.01",
            },
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ),
        "ETHUSDT",
    )
    assert rules == SymbolRules("ETHUSDT", D("0.10"), D("0.01"), D("0.01"), D(5), D(120))


def test_rules_without_market_lot_size_or_min_notional() -> None:
    rules = symbol_rules(
        info(PRICE, {"filterType": "LOT_SIZE", "minQty": "0", "maxQty": "0", "stepSize": "0.5"}),
        "ETHUSDT",
    )
    assert rules == SymbolRules("ETHUSDT", D("0.10"), D("0.5"), D("0.5"), D(0), None)


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"symbols": []},
        info(PRICE),
        info({"filterType": "LOT_SIZE", "minQty": "0", "maxQty": "0", "stepSize": "1"}),
        info({**PRICE, "tickSize": "0"}, {"filterType": "LOT_SIZE", "stepSize": "1"}),
        info({**PRICE, "tickSize": 0.1}, {"filterType": "LOT_SIZE", "stepSize": "1"}),
    ],
    ids=["empty", "no-symbol", "no-lot", "no-price", "zero-tick", "float-tick"],
)
def test_unusable_exchange_info_is_a_wire_error(document: dict[str, Any]) -> None:
    with pytest.raises(WireError):
        symbol_rules(document, "ETHUSDT")


# --- scalars --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, 1.5, None, "NaN", "Infinity", "-inf", "1e", "", [], {}])
def test_decimals_are_strict(value: object) -> None:
    with pytest.raises(WireError):
        decimal(value, "x")


def test_json_numbers_never_become_floats() -> None:
    parsed = decode(b'{"a": 0.1, "b": 7, "c": "0.30"}')
    assert parsed == {"a": D("0.1"), "b": 7, "c": "0.30"}
    assert isinstance(parsed["a"], Decimal)
    with pytest.raises(WireError):
        decode(b'{"a": NaN}')


def test_book_quotes_from_rest_and_stream_shapes() -> None:
    rest = {"symbol": "SOLUSDT", "bidPrice": "149.98", "askPrice": "150.02"}
    stream = {"e": "bookTicker", "s": "SOLUSDT", "b": "149.98", "B": "1", "a": "150.02", "A": "2"}
    expected = Quote("aster", "SOLUSDT", D("149.98"), D("150.02"), 1.0)
    assert book_quote("aster", rest, 1.0) == book_quote("aster", stream, 1.0) == expected
    with pytest.raises(WireError):
        book_quote("aster", {**stream, "b": "150.03"}, 1.0)  # crossed


# --- ORDER_TRADE_UPDATE -------------------------------------------------------------------------


def update(
    status: str, filled: str, *, kind: str = "MARKET", client_id: str = "hd1-1", e: int = 1
) -> dict[str, Any]:
    o = {
        "s": "SOLUSDT", "c": client_id, "S": "SELL", "o": kind, "f": "GTC", "q": "1",
        "p": "0", "ap": "149.98" if D(filled) else "0", "x": "TRADE", "X": status, "i": 7,
        "l": filled, "z": filled, "L": "149.98", "R": False, "ps": "BOTH",
    }  # fmt: skip
    return {"e": "ORDER_TRADE_UPDATE", "E": e, "T": e, "o": o}


def test_order_update_maps_our_orders_and_skips_the_rest() -> None:
    assert order_update(update("FILLED", "1")) == OrderState(
        "hd1-1", "7", "SOLUSDT", Side.SELL, OrderType.MARKET, OrderStatus.FILLED, D(1), D(1),
        D("149.98"),
    )  # fmt: skip
    assert order_update(update("NEW", "0", kind="LIQUIDATION")) is None
    assert order_update(update("NEW_ADL", "0")) is None
    assert order_update({"e": "ACCOUNT_UPDATE", "a": {}}) is None
    with pytest.raises(WireError):
        order_update(update("FILLED", "2"))  # more filled than ordered


async def test_user_stream_never_moves_an_order_backwards() -> None:
    """Events may arrive out of order (the venue says to sort by E): a late NEW or partial
    fill after FILLED is dropped; other events and garbage are ignored."""
    frames = [
        json.dumps(update("NEW", "0", e=1)),
        json.dumps({"stream": "key", "data": update("PARTIALLY_FILLED", "0.4", e=2)}),
        json.dumps(update("FILLED", "1", e=4)),
        json.dumps(update("PARTIALLY_FILLED", "0.6", e=3)),  # late
        json.dumps(update("NEW", "0", e=1)),  # a duplicate, later still
        "not json",
        json.dumps({"e": "ACCOUNT_UPDATE", "E": 5, "a": {"m": "ORDER"}}),
        json.dumps(update("NEW", "0", kind="LIQUIDATION", client_id="autoclose-1")),
        json.dumps(update("NEW", "0", client_id="hd1-2", e=6)),
    ]
    async with user_stream_server(frames) as url:
        venue = make_venue(url, clock=Clock(1_750_000_000.0))
        await venue.start()
        updates = venue.order_updates()
        try:
            seen = [await asyncio.wait_for(anext(updates), 2.0) for _ in range(4)]
        finally:
            await updates.aclose()
            await venue.close()
    assert [(s.client_id, s.status.value, s.filled_qty) for s in seen] == [
        ("hd1-1", "NEW", D(0)),
        ("hd1-1", "PARTIALLY_FILLED", D("0.4")),
        ("hd1-1", "FILLED", D(1)),
        ("hd1-2", "NEW", D(0)),
    ]


START_ANSWERS: dict[str, Any] = {
    "time": {"serverTime": 1_750_000_000_000},
    "exchangeInfo": {
        "symbols": [
            {
                "symbol": "BTCUSDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": "0.1"},
                    {"filterType": "LOT_SIZE", "stepSize": "0.001"},
                ],
            }
        ]
    },
    "positionSide/dual": {"dualSidePosition": False},
    "listenKey": {"listenKey": "k" * 64},
}


@contextlib.asynccontextmanager
async def user_stream_server(frames: list[str]) -> AsyncIterator[str]:
    """Start-up answers, a listen key, and a WebSocket that sends `frames`, then idles."""

    async def rest(request: web.Request) -> web.Response:
        endpoint = request.path.removeprefix("/fapi/").partition("/")[2]
        return web.json_response(START_ANSWERS.get(endpoint, {"code": 200, "msg": "success"}))

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        for frame in frames:
            await socket.send_str(frame)
        await asyncio.sleep(5)
        return socket

    app = web.Application()
    app.router.add_get("/ws/{key}", ws)
    app.router.add_route("*", "/{tail:.*}", rest)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_reconnect_hooks_survive_failing_hooks(caplog: pytest.LogCaptureFixture) -> None:
    hooks = ReconnectHooks("aster")
    calls: list[str] = []

    def broken(stream: str) -> None:
        raise RuntimeError("hook bug")

    async def failing(stream: str) -> None:
        calls.append(f"async {stream}")
        raise RuntimeError("async hook bug")

    hooks.add(broken)
    hooks.add(failing)
    hooks.add(calls.append)
    hooks.fire("user")
    await asyncio.sleep(0.01)
    assert calls == ["user", "async user"]
    assert caplog.text.count("reconnect hook failed") == 2
