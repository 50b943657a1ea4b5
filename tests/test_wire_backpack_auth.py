"""Backpack server authentication over real HTTP/WS on 127.0.0.1
(docs/venues/backpack.md#authentication, docs/venues/backpack.md#streams)."""

from __future__ import annotations

from test_wire_backpack_kit import (
    API_KEY,
    ASK,
    SECRET,
    SYMBOL,
    Clock,
    frames,
    push,
    serve,
    settle,
)

from hedged.adapters.backpack import signing as bp
from hedged.sim.backpack import signing as venue_signing

# docs/venues/backpack.md#test-vectors
CANCEL_MESSAGE = (
    "instruction=orderCancel&orderId=28&symbol=BTC_USDT&timestamp=1614550000000&window=5000"
)
CANCEL_SIGNATURE = (
    "5JNvIFup6BvOx0ITxfxtEn5ac317vAI78vza6AWOyTvrzDTlVnO/T0dQazXuJmS4WJbLnm17ydL4EwqW5+6aBA=="
)
EXECUTE_SIGNATURE = (
    "cKQnGfylMctDAExpivfLgX92IGLgheXYCyKrQZiHvkOxA6dG7ivCBN+RDwHgazh/EPLz2Cf1ihVQiSOAqGZsBg=="
)
SUBSCRIBE_SIGNATURE = (
    "WHLEmbhQg3PY3VWb1GoJKNBmKXDrZHeSs5pD1Q7X1owt+40k5jNqGKl1aQDpkG9K+czQBxg+8X3kyE4lj9fHDw=="
)
VECTOR_MS = 1_750_000_000_000
EXECUTE_BODY: dict[str, object] = {
    "clientId": 42,
    "orderType": "Market",
    "quantity": "0.5",
    "side": "Bid",
    "symbol": SYMBOL,
}
BAD_SIGNATURE = ("INVALID_CLIENT_REQUEST", "Invalid signature")
EXPIRED = ("INVALID_CLIENT_REQUEST", "Request has expired")


def vector_headers(signature: str, timestamp: int, window: str | None = "5000") -> dict[str, str]:
    headers = {"X-API-Key": API_KEY, "X-Signature": signature, "X-Timestamp": str(timestamp)}
    if window is not None:
        headers["X-Window"] = window
    return headers


async def test_order_execute_vector_verifies_and_places_the_order() -> None:
    message = bp.signing_string("orderExecute", EXECUTE_BODY, VECTOR_MS, 5000)
    assert venue_signing.verify(API_KEY, message, EXECUTE_SIGNATURE)
    async with serve(clock=Clock(VECTOR_MS / 1000 + 0.2)) as server:
        headers = vector_headers(EXECUTE_SIGNATURE, VECTOR_MS)
        reply = await server.alice.send("POST", "/api/v1/order", headers, EXECUTE_BODY)
    assert reply.status == 200, reply.body
    assert (reply.body["clientId"], reply.body["status"]) == (42, "Filled")
    assert reply.body["executedQuoteQuantity"] == str(ASK / 2)


async def test_order_cancel_vector_passes_authentication() -> None:
    assert venue_signing.verify(API_KEY, CANCEL_MESSAGE, CANCEL_SIGNATURE)
    async with serve(clock=Clock(1_614_550_000.2)) as server:
        headers = vector_headers(CANCEL_SIGNATURE, 1_614_550_000_000)
        body = {"orderId": 28, "symbol": "BTC_USDT"}
        reply = await server.alice.send("DELETE", "/api/v1/order", headers, body)
    # Signed right; the venue then refuses the market this simulator does not list.
    assert (reply.status, reply.error) == (400, ("INVALID_CLIENT_REQUEST", "Invalid market symbol"))


async def test_subscribe_vector_opens_the_private_stream() -> None:
    async with serve(clock=Clock(VECTOR_MS / 1000 + 0.2)) as server:
        ws = await server.ws()
        signature = [API_KEY, SUBSCRIBE_SIGNATURE, str(VECTOR_MS), "5000"]
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["account.orderUpdate"], "signature": signature}
        )
        assert await settle(ws) == []  # no ack, no error
        await server.alice.market("Bid", "0.5", clientId=7)
        accepted = await push(ws, "account.orderUpdate")
        assert (accepted["e"], accepted["c"]) == ("orderAccepted", 7)
        await ws.close()


async def test_a_tampered_signature_is_refused() -> None:
    async with serve(clock=Clock(VECTOR_MS / 1000 + 0.2)) as server:
        tampered = "A" + EXECUTE_SIGNATURE[1:]
        reply = await server.alice.send(
            "POST", "/api/v1/order", vector_headers(tampered, VECTOR_MS), EXECUTE_BODY
        )
        assert (reply.status, reply.error) == (400, BAD_SIGNATURE)
        changed_body = {**EXECUTE_BODY, "quantity": "0.6"}
        reply = await server.alice.send(
            "POST", "/api/v1/order", vector_headers(EXECUTE_SIGNATURE, VECTOR_MS), changed_body
        )
        assert (reply.status, reply.error) == (400, BAD_SIGNATURE)
        submissions = await server.admin("GET", "/_admin/submissions")
    assert submissions.body == {}


async def test_an_expired_or_future_timestamp_is_refused() -> None:
    async with serve() as server:
        now = server.clock.ms()
        for stamp in (now - 6_000, now + 6_000):
            reply = await server.alice.signed(
                "GET", "/api/v1/capital", "balanceQuery", timestamp=stamp
            )
            assert (reply.status, reply.error) == (400, EXPIRED)
        # Inside a longer window the same age is fine.
        reply = await server.alice.signed(
            "GET", "/api/v1/capital", "balanceQuery", timestamp=now - 6_000, window=10_000
        )
        assert reply.status == 200


async def test_a_window_above_60000_is_refused() -> None:
    async with serve() as server:
        stamp = server.clock.ms()
        message = bp.signing_string("balanceQuery", {}, stamp, 60_001)
        headers = vector_headers(bp.sign(SECRET, message), stamp, "60001")
        reply = await server.alice.send("GET", "/api/v1/capital", headers, {})
    assert reply.status == 400
    assert reply.error[0] == "INVALID_CLIENT_REQUEST"
    assert "X-Window" in reply.error[1]


async def test_an_unknown_key_is_unauthorized() -> None:
    secret, key = bp.new_keypair()
    async with serve() as server:
        stamp = server.clock.ms()
        headers = bp.headers(key, secret, "positionQuery", {}, stamp)
        reply = await server.alice.send("GET", "/api/v1/position", headers, {})
    assert (reply.status, reply.body["code"]) == (401, "UNAUTHORIZED")


async def test_missing_headers_are_refused() -> None:
    async with serve() as server:
        stamp = server.clock.ms()
        full = bp.headers(API_KEY, SECRET, "positionQuery", {}, stamp)
        no_key = {k: v for k, v in full.items() if k != "X-API-Key"}
        reply = await server.alice.send("GET", "/api/v1/position", no_key, {})
        assert (reply.status, reply.body["code"]) == (401, "UNAUTHORIZED")
        no_stamp = {k: v for k, v in full.items() if k != "X-Timestamp"}
        reply = await server.alice.send("GET", "/api/v1/position", no_stamp, {})
        assert (reply.status, reply.error) == (
            400,
            ("INVALID_CLIENT_REQUEST", "Invalid X-Timestamp header"),
        )


async def test_an_omitted_window_means_5000() -> None:
    async with serve() as server:
        stamp = server.clock.ms()
        message = bp.signing_string("positionQuery", {}, stamp, 5000)
        headers = vector_headers(bp.sign(SECRET, message), stamp, window=None)
        reply = await server.alice.send("GET", "/api/v1/position", headers, {})
    assert (reply.status, reply.body) == (200, [])


async def test_query_params_and_lowercase_booleans_are_signed() -> None:
    async with serve() as server:
        placed = await server.alice.limit("Bid", "0.1", "140", clientId=5, postOnly=True)
        assert (placed.status, placed.body["postOnly"]) == (200, True)
        reply = await server.alice.query(clientId=5)
        assert (reply.status, reply.body["clientId"]) == (200, 5)
        # The same query signed without its params is refused.
        stamp = server.clock.ms()
        headers = bp.headers(API_KEY, SECRET, "orderQuery", {}, stamp)
        params = {"symbol": SYMBOL, "clientId": 5}
        reply = await server.alice.send("GET", "/api/v1/order", headers, params)
        assert (reply.status, reply.error) == (400, BAD_SIGNATURE)


async def test_private_subscriptions_need_a_valid_signature() -> None:
    async with serve() as server:
        ws = await server.ws()
        await ws.send_json({"method": "SUBSCRIBE", "params": ["account.orderUpdate"]})
        bad = server.ws_signature()
        bad[1] = ("B" if bad[1].startswith("A") else "A") + bad[1][1:]  # always another one
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["account.positionUpdate"], "signature": bad}
        )
        stale = server.ws_signature()
        stale[2] = str(server.clock.ms() - 10_000)
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["account.orderUpdate"], "signature": stale}
        )
        errors = await settle(ws)
        assert [e["error"]["code"] for e in errors] == [4003, 4003, 4003]
        assert errors[1] == {"id": None, "error": {"code": 4003, "message": "Invalid signature"}}
        # Nothing was subscribed: an order pushes nothing.
        await server.alice.market("Bid", "0.1")
        assert await frames(ws) == []
        await ws.close()


async def test_an_unknown_stream_is_refused_with_4006() -> None:
    async with serve() as server:
        ws = await server.ws()
        errors = await server.subscribe(ws, "bookTicker.BTC_USDC", "nonsense")
        assert errors == [{"id": None, "error": {"code": 4006, "message": "Invalid stream"}}] * 2
        await ws.close()
