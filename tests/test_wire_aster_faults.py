"""Each injected fault as a client of the Aster server sees it, and the admin endpoints."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from test_wire_aster_kit import ALICE, STREAM, SYMBOL, D, Sim, next_json, open_sim

from hedged.sim.faults import FaultKind

ORDER_PATH = "/fapi/v1/order"


async def sell(sim: Sim, client_id: str, qty: str = "1", version: str = "v1") -> int:
    """A market sell; the HTTP status (the body may be Aster's error)."""
    params = [
        ("symbol", SYMBOL),
        ("side", "SELL"),
        ("type", "MARKET"),
        ("quantity", qty),
        ("newClientOrderId", client_id),
        ("newOrderRespType", "RESULT"),
    ]
    answer = await (sim.v3 if version == "v3" else sim.v1)("POST", "/order", params)
    return answer.status


async def lookup(sim: Sim, client_id: str) -> dict[str, object]:
    answer = await sim.v1("GET", "/order", [("symbol", SYMBOL), ("origClientOrderId", client_id)])
    body: dict[str, object] = answer.body
    return body


async def test_latency_delays_the_answer() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.LATENCY, "/fapi/v1/time", seconds=0.1)
        started = time.monotonic()
        slow = await sim.public("/time")
        slow_took = time.monotonic() - started
        started = time.monotonic()
        await sim.public("/time")
        fast_took = time.monotonic() - started
    assert slow.status == 200
    assert slow_took >= 0.1 > fast_took


async def test_503_says_execution_status_unknown_and_does_not_act() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.ERROR_5XX, "/fapi/*", method="POST")
        answer = await sim.v3(
            "POST",
            "/order",
            [
                ("symbol", SYMBOL),
                ("side", "SELL"),
                ("type", "MARKET"),
                ("quantity", "1"),
                ("newClientOrderId", "a-1"),
            ],
        )
        found = await lookup(sim, "a-1")
    assert answer.status == 503
    assert answer.code == -1007 and "execution status unknown" in answer.body["msg"]
    assert found["code"] == -2013


async def test_injected_429_has_aster_body_and_retry_after() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.RATE_LIMIT, ORDER_PATH, method="POST")
        answer = await sim.v1(
            "POST",
            "/order",
            [("symbol", SYMBOL), ("side", "SELL"), ("type", "MARKET"), ("quantity", "1")],
        )
    assert (answer.status, answer.code) == (429, -1003)
    assert int(answer.headers["Retry-After"]) > 0
    assert "X-MBX-USED-WEIGHT-1M" in answer.headers
    assert not sim.exchange.position(ALICE, SYMBOL).qty


async def test_drop_is_a_connection_error_and_nothing_happened() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.DROP, ORDER_PATH)
        with pytest.raises(aiohttp.ClientConnectionError):
            await sell(sim, "d-1")
        found = await lookup(sim, "d-1")
    assert found["code"] == -2013


async def test_accept_then_timeout_gives_no_answer_but_the_order_exists() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.ACCEPT_THEN_TIMEOUT, ORDER_PATH)
        with pytest.raises(aiohttp.ClientConnectionError):
            await sell(sim, "t-1")
        found = await lookup(sim, "t-1")
        submissions = await sim.admin("GET", "/submissions")
    assert (found["status"], found["executedQty"]) == ("FILLED", "1")
    assert submissions == {"t-1": 1}


async def test_reject_is_a_definite_margin_refusal() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.REJECT, ORDER_PATH)
        answer = await sim.v1(
            "POST",
            "/order",
            [
                ("symbol", SYMBOL),
                ("side", "SELL"),
                ("type", "MARKET"),
                ("quantity", "1"),
                ("newClientOrderId", "r-1"),
            ],
        )
        found = await lookup(sim, "r-1")
    assert (answer.status, answer.code) == (400, -2019)
    assert found["code"] == -2013


async def test_partial_fills_only_the_fraction() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.PARTIAL, ORDER_PATH, fraction="0.4")
        assert await sell(sim, "p-1") == 200
        found = await lookup(sim, "p-1")
    assert (found["executedQty"], found["origQty"], found["status"]) == ("0.4", "1", "EXPIRED")
    assert sim.exchange.position(ALICE, SYMBOL).qty == D("-0.4")


async def test_stale_stops_price_pushes_until_cleared() -> None:
    async with open_sim() as sim:
        ws = await sim.ws(f"/ws/{STREAM}@bookTicker")
        sim.faults.arm(FaultKind.STALE, times=None)
        sim.world.set_price(D(151))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive_json(), 0.1)
        await sim.admin("DELETE", "/faults")
        sim.world.set_price(D(152))
        event = await next_json(ws)
    assert event["e"] == "bookTicker" and event["b"] == "151.98"


async def test_admin_faults_over_http_and_price() -> None:
    async with open_sim() as sim:
        armed = await sim.admin("POST", "/faults", {"kind": "error_5xx", "path": "/fapi/v1/time"})
        failed = await sim.public("/time")
        recovered = await sim.public("/time")
        await sim.admin("POST", "/faults", {"kind": "error_5xx", "times": None})
        cleared = await sim.admin("DELETE", "/faults")
        after = await sim.public("/time")
        price = await sim.admin("POST", "/price", {"price": "151.2"})
        ticker = await sim.public("/ticker/price", [("symbol", SYMBOL)])
        async with sim.session.post(f"{sim.base}/_admin/price", json={"price": "-1"}) as bad:
            bad_status = bad.status
    assert armed == {"armed": 1}
    assert (failed.status, recovered.status, after.status) == (503, 200, 200)
    assert cleared == {"armed": 0}
    assert price == {"price": "151.2"}
    assert ticker.body["price"] == "151.2"
    assert bad_status == 400


async def test_late_delivery_is_not_found_while_held_then_fills() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.LATE, ORDER_PATH, seconds=60)
        with pytest.raises(aiohttp.ClientConnectionError):
            await sell(sim, "l-1")
        during = await lookup(sim, "l-1")
        held = await sim.admin("GET", "/faults")
        await sim.faults.held.deliver_now()
        after = await lookup(sim, "l-1")
        submissions = await sim.admin("GET", "/submissions")
    assert during["code"] == -2013
    assert held == {"armed": 0, "held": 1}
    assert (after["status"], after["executedQty"]) == ("FILLED", "1")
    assert submissions == {"l-1": 1}


async def test_late_delivery_past_the_recv_window_is_refused() -> None:
    async with open_sim() as sim:
        sim.faults.arm(FaultKind.LATE, ORDER_PATH, seconds=60)
        with pytest.raises(aiohttp.ClientConnectionError):
            await sell(sim, "l-2")  # recvWindow 5000
        sim.clock.now += 5.001  # processed once timestamp + recvWindow has passed
        await sim.faults.held.deliver_now()
        found = await lookup(sim, "l-2")
        held = await sim.admin("GET", "/faults")
    assert found["code"] == -2013
    assert held == {"armed": 0, "held": 0}
    assert not sim.exchange.position(ALICE, SYMBOL).qty
