"""Fault injection and rate limiting on the Backpack server, as a client sees them."""

from __future__ import annotations

import time
from decimal import Decimal

import aiohttp
import pytest
from test_wire_backpack_kit import SYMBOL, Clock, frames, push, serve

from hedged.adapters.backpack.signing import DEFAULT_WINDOW_MS
from hedged.sim.backpack.app import BackpackLimits
from hedged.sim.faults import FaultKind

ORDER = "/api/v1/order"
TOO_MANY = {"code": "TOO_MANY_REQUESTS", "message": "Too many requests"}


async def test_latency_delays_the_answer() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.LATENCY, "/api/v1/ping", seconds=0.3)
        started = time.monotonic()
        slow = await server.alice.public("/api/v1/ping")
        slow_seconds = time.monotonic() - started
        started = time.monotonic()
        await server.alice.public("/api/v1/ping")
    assert slow.body == "pong"
    assert slow_seconds >= 0.3 > time.monotonic() - started


async def test_a_503_answers_without_acting() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.ERROR_5XX, ORDER, method="POST")
        reply = await server.alice.limit("Bid", "1", "140", clientId=1)
        open_orders = await server.alice.signed("GET", "/api/v1/orders", "orderQueryAll")
    assert reply.status == 503
    assert reply.body == {
        "code": "SERVER_ERROR",
        "message": "Unknown error, please check your request or try again later.",
    }
    assert open_orders.body == []


async def test_an_injected_429_has_the_venue_body() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.RATE_LIMIT, "/api/v1/*")
        limited = await server.alice.public("/api/v1/status")
        after = await server.alice.public("/api/v1/status")
    assert (limited.status, limited.body) == (429, TOO_MANY)
    assert after.status == 200


async def test_requests_beyond_the_rate_limit_get_429_per_key() -> None:
    async with serve(limits=BackpackLimits(requests=3)) as server:
        statuses = [
            (await server.alice.signed("GET", "/api/v1/position", "positionQuery")).status
            for _ in range(4)
        ]
        limited = await server.alice.signed("GET", "/api/v1/position", "positionQuery")
        bob = await server.bob.signed("GET", "/api/v1/position", "positionQuery")
    assert statuses == [200, 200, 200, 429]
    assert limited.body == TOO_MANY
    assert bob.status == 200


async def test_a_drop_closes_the_connection_without_acting() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.DROP, ORDER, method="POST")
        with pytest.raises(aiohttp.ClientError):
            await server.alice.limit("Bid", "1", "140", clientId=2)
        query = await server.alice.query(clientId=2)
        submissions = await server.admin("GET", "/_admin/submissions")
    assert query.status == 404
    assert submissions.body == {}


async def test_accept_then_timeout_places_the_order_but_never_answers() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.ACCEPT_THEN_TIMEOUT, ORDER, method="POST")
        with pytest.raises(aiohttp.ClientError):
            await server.alice.limit("Bid", "1", "140", clientId=3)
        query = await server.alice.query(clientId=3)
        submissions = await server.admin("GET", "/_admin/submissions")
    assert (query.status, query.body["status"], query.body["clientId"]) == (200, "New", 3)
    assert submissions.body == {"3": 1}


async def test_an_injected_reject_is_a_definite_invalid_order() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.REJECT, ORDER, method="POST")
        reply = await server.alice.market("Bid", "1", clientId=4)
        position = await server.alice.position()
    assert (reply.status, reply.error) == (400, ("INVALID_ORDER", "Invalid order"))
    assert position.body == []


async def test_a_partial_fault_fills_a_fraction_and_expires_the_rest() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.PARTIAL, ORDER, method="POST", fraction="0.4")
        reply = await server.alice.market("Bid", "1", clientId=5)
        history = await server.alice.signed(
            "GET", "/wapi/v1/history/orders", "orderHistoryQueryAll", {"clientId": "5"}
        )
    assert (reply.body["quantity"], reply.body["executedQuantity"]) == ("1", "0.4")
    assert Decimal(reply.body["executedQuantity"]) < Decimal(reply.body["quantity"])
    assert reply.body["status"] == "Expired"
    assert history.body[0]["expiryReason"] == "InsufficientLiquidity"


async def test_a_stale_feed_stops_the_price_pushes_until_cleared() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.STALE, "*", times=None)
        ws = await server.ws()
        assert await server.subscribe(ws, f"bookTicker.{SYMBOL}", f"markPrice.{SYMBOL}") == []
        server.world.set_price(Decimal(151))
        assert await frames(ws) == []
        # REST still answers with the live book.
        depth = await server.alice.public("/api/v1/depth", symbol=SYMBOL)
        assert depth.body["bids"][0][0] == "150.98"
        server.faults.clear()
        server.world.set_price(Decimal(152))
        ticker = await push(ws, f"bookTicker.{SYMBOL}")
        await ws.close()
    assert ticker["b"] == "151.98"


async def test_faults_are_armed_and_cleared_over_http() -> None:
    async with serve() as server:
        armed = await server.admin(
            "POST", "/_admin/faults", {"kind": "error_5xx", "path": "/api/v1/capital", "times": 2}
        )
        first = await server.alice.signed("GET", "/api/v1/capital", "balanceQuery")
        cleared = await server.admin("DELETE", "/_admin/faults")
        second = await server.alice.signed("GET", "/api/v1/capital", "balanceQuery")
    assert (armed.status, armed.body) == (200, {"armed": 1})
    assert first.status == 503
    assert cleared.body == {"armed": 0}
    assert second.status == 200


async def test_a_fault_on_the_websocket_path_refuses_the_handshake() -> None:
    async with serve() as server:
        server.faults.arm(FaultKind.ERROR_5XX, "/", method="GET")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await server.ws()
        healthy = await server.ws()
        await healthy.close()
    assert refused.value.status == 503


async def test_a_late_delivery_is_not_found_while_held_then_rests() -> None:
    async with serve(clock=Clock(pinned=time.time())) as server:
        server.faults.arm(FaultKind.LATE, ORDER, method="POST", seconds=60)
        with pytest.raises(aiohttp.ClientError):
            await server.alice.limit("Bid", "1", "140", clientId=6)
        during = await server.alice.query(clientId=6)
        held = await server.admin("GET", "/_admin/faults")
        await server.faults.held.deliver_now()
        after = await server.alice.query(clientId=6)
        submissions = await server.admin("GET", "/_admin/submissions")
    assert during.status == 404
    assert held.body == {"armed": 0, "held": 1}
    assert (after.status, after.body["status"], after.body["clientId"]) == (200, "New", 6)
    assert submissions.body == {"6": 1}


async def test_a_late_delivery_past_its_window_is_refused() -> None:
    clock = Clock(pinned=time.time())
    async with serve(clock=clock) as server:
        server.faults.arm(FaultKind.LATE, ORDER, method="POST", seconds=60)
        with pytest.raises(aiohttp.ClientError):
            await server.alice.limit("Bid", "1", "140", clientId=7)
        assert clock.pinned is not None
        clock.pinned += DEFAULT_WINDOW_MS / 1000 + 0.001  # processed after timestamp + window
        await server.faults.held.deliver_now()
        query = await server.alice.query(clientId=7)
        open_orders = await server.alice.signed("GET", "/api/v1/orders", "orderQueryAll")
    assert query.status == 404
    assert open_orders.body == []
