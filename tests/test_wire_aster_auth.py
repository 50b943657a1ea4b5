"""Aster auth over real HTTP: the signing vectors verify server-side, and each way a
signed request can be wrong gets the venue's code."""

from __future__ import annotations

from test_wire_aster_kit import (
    AGENT,
    AGENT_KEY,
    ALICE,
    API_KEY,
    NOW,
    SECRET,
    USER,
    Clock,
    D,
    make_world,
    open_sim,
)
from vectors import (
    V1_MIXED_BODY,
    V1_MIXED_QUERY,
    V1_MIXED_SIGNATURE,
    V1_PAYLOAD,
    V1_SECRET,
    V1_SIGNATURE,
    V3_MSG,
    V3_NONCE,
    V3_SIGNATURE,
)

from hedged.adapters.aster import signing as signing
from hedged.sim.world import World

# docs/venues/aster.md#test-vectors
V1_TIME = 1591702613.943
VECTOR_KEY = "vectorKey"
ORDER = [("symbol", "SOLUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.1")]


KEY_HEADER = {"X-MBX-APIKEY": API_KEY}


def btc_world(clock: Clock) -> World:
    """The vectors' BTCUSDT, at 9000 (tick 0.1, step 0.001)."""
    return make_world(clock, symbol="BTCUSDT", price=D(9000), tick=D("0.1"), step=D("0.001"))


async def test_v1_vectors_verify_server_side() -> None:
    clock = Clock(V1_TIME + 0.5)
    async with open_sim(
        world=btc_world(clock), clock=clock, extra_keys={VECTOR_KEY: V1_SECRET}
    ) as sim:
        headers = {"X-MBX-APIKEY": VECTOR_KEY}
        whole = await sim.send(
            "POST", "/fapi/v1/order", body=f"{V1_PAYLOAD}&signature={V1_SIGNATURE}", headers=headers
        )
        mixed = await sim.send(
            "POST",
            "/fapi/v1/order",
            query=V1_MIXED_QUERY,
            body=f"{V1_MIXED_BODY}&signature={V1_MIXED_SIGNATURE.upper()}",  # case-insensitive
            headers=headers,
        )
    for answer in (whole, mixed):
        assert answer.status == 200, answer.body
        assert answer.body["status"] == "NEW"
        assert (answer.body["price"], answer.body["origQty"]) == ("9000", "1")


async def test_v3_vector_verifies_server_side_and_its_replay_is_refused() -> None:
    clock = Clock(V3_NONCE / 1_000_000 + 1)
    async with open_sim(world=btc_world(clock), clock=clock) as sim:
        body = f"{V3_MSG}&signature={V3_SIGNATURE}"
        placed = await sim.send("POST", "/fapi/v3/order", body=body)
        replayed = await sim.send("POST", "/fapi/v3/order", body=body)
        query = [("symbol", "BTCUSDT"), ("origClientOrderId", "hedge-1")]
        found = await sim.v3("GET", "/order", query)
    assert placed.status == 200, placed.body
    assert placed.body["clientOrderId"] == "hedge-1"
    assert placed.body["newChainData"]["hash"].startswith("0x")
    assert (replayed.status, replayed.code) == (400, -4225)
    assert found.body["status"] == "FILLED"
    assert found.body["executedQty"] == "0.01"
    assert found.body["avgPrice"] == "8999.1"  # the bid of a 9000 mid, 2 bps wide, tick 0.1


async def test_v3_signature_with_0x_prefix_and_without_user_is_accepted() -> None:
    async with open_sim() as sim:
        answer = await sim.v3("POST", "/order", ORDER, user=None)
    assert answer.status == 200, answer.body


async def test_tampered_signature_is_refused_with_1022() -> None:
    async with open_sim() as sim:
        stamp = int(NOW * 1000)
        signed = signing.sign_v1(ORDER, SECRET, stamp, 5000).replace("0.1", "0.2")
        v1 = await sim.send("POST", "/fapi/v1/order", body=signed, headers=KEY_HEADER)
        signed3 = signing.sign_v3(
            ORDER, user=USER, signer=AGENT, signer_key=AGENT_KEY, nonce_us=int(NOW * 1e6)
        )
        v3 = await sim.send("POST", "/fapi/v3/order", body=signed3.replace("0.1", "0.2"))
        assert not sim.exchange.open_orders(ALICE)
    assert (v1.status, v1.code) == (400, -1022)
    assert (v3.status, v3.code) == (400, -1022)


async def test_timestamp_outside_the_window_or_ahead_is_refused_with_1021() -> None:
    async with open_sim() as sim:
        now = int(NOW * 1000)
        late = await sim.v1("GET", "/openOrders", timestamp_ms=now - 5001)
        in_window = await sim.v1("GET", "/openOrders", timestamp_ms=now - 5000)
        wide = await sim.v1("GET", "/openOrders", timestamp_ms=now - 20_000, recv_window_ms=60_000)
        ahead = await sim.v1("GET", "/openOrders", timestamp_ms=now + 1000)
        just_ahead = await sim.v1("GET", "/openOrders", timestamp_ms=now + 999)
    assert (late.status, late.code) == (400, -1021)
    assert "recvWindow" in late.body["msg"]
    assert (ahead.code, ahead.body["msg"]) == (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    assert in_window.status == wide.status == just_ahead.status == 200


async def test_missing_timestamp_and_oversized_recv_window() -> None:
    async with open_sim() as sim:
        body = "symbol=SOLUSDT"
        signed = f"{body}&signature={signing.hmac_signature(SECRET, body)}"
        missing = await sim.send("GET", "/fapi/v1/openOrders", query=signed, headers=KEY_HEADER)
        stamp = int(NOW * 1000)
        query = f"recvWindow=60001&timestamp={stamp}"
        signed = f"{query}&signature={signing.hmac_signature(SECRET, query)}"
        too_wide = await sim.send("GET", "/fapi/v1/openOrders", query=signed, headers=KEY_HEADER)
    assert (missing.status, missing.code) == (400, -1102)
    assert "timestamp" in missing.body["msg"]
    assert too_wide.code == -1131


async def test_unknown_or_missing_api_key() -> None:
    async with open_sim() as sim:
        unknown = await sim.v1("GET", "/openOrders", key="nobody")
        missing = await sim.send("GET", "/fapi/v1/openOrders", query="timestamp=1&signature=00")
        wrong_secret = await sim.v1("GET", "/openOrders", secret="not-the-secret")
        stream = await sim.key_only("POST", "/listenKey", key="nobody")
    assert (unknown.status, unknown.code) == (401, -2015)
    assert (missing.status, missing.code) == (401, -2014)
    assert wrong_secret.code == -1022
    assert stream.code == -2015


async def test_v3_nonce_rules() -> None:
    async with open_sim() as sim:
        now_us = int(NOW * 1_000_000)
        old = await sim.v3("GET", "/openOrders", nonce_us=now_us - 61_000_000)
        ahead = await sim.v3("GET", "/openOrders", nonce_us=now_us + 61_000_000)
        fresh = await sim.v3("GET", "/openOrders", nonce_us=now_us - 59_000_000)
        again = await sim.v3("GET", "/openOrders", nonce_us=now_us - 59_000_000)
    assert (old.code, old.body["msg"]) == (-4225, "Nonce Expired")
    assert ahead.code == -1021
    assert fresh.status == 200
    assert again.code == -4225


async def test_v3_unknown_signer_or_foreign_user_is_refused_with_2015() -> None:
    key, signer = signing.new_agent_key()
    async with open_sim() as sim:
        msg = signing.sign_v3([], user=None, signer=signer, signer_key=key, nonce_us=int(NOW * 1e6))
        stranger = await sim.send("GET", "/fapi/v3/openOrders", query=msg)
        foreign = await sim.v3("GET", "/openOrders", user="0x" + "11" * 20)
        no_signer = await sim.send("GET", "/fapi/v3/openOrders", query="nonce=1&signature=00")
    assert (stranger.status, stranger.code) == (401, -2015)
    assert foreign.code == -2015
    assert no_signer.code == -1102


async def test_v1_keys_do_not_work_on_v3_nor_agents_on_v1() -> None:
    async with open_sim() as sim:
        v1_on_v3 = await sim.v1("GET", "/openOrders", version="v3")
        v3_on_v1 = await sim.send(
            "GET",
            "/fapi/v1/openOrders",
            query=signing.sign_v3(
                [], user=USER, signer=AGENT, signer_key=AGENT_KEY, nonce_us=int(NOW * 1e6)
            ),
        )
    assert v1_on_v3.code == -1102  # no signer
    assert v3_on_v1.code == -2014  # no API key


async def test_listen_key_endpoints_take_the_key_alone_and_v3_accepts_them_unsigned() -> None:
    async with open_sim() as sim:
        v1 = await sim.key_only("POST", "/listenKey")
        unsigned = await sim.send("POST", "/fapi/v3/listenKey", body=f"signer={AGENT}")
        signed = await sim.v3("POST", "/listenKey")
        nobody = await sim.send("POST", "/fapi/v3/listenKey")
    assert v1.status == unsigned.status == signed.status == 200
    # alice has one active key whichever way she asks
    assert v1.body["listenKey"] == unsigned.body["listenKey"] == signed.body["listenKey"]
    assert len(v1.body["listenKey"]) == 64
    assert nobody.code == -1102


async def test_public_endpoints_need_no_auth_on_both_families() -> None:
    async with open_sim() as sim:
        answers = [await sim.public("/time", version=v) for v in ("v1", "v3")]
    assert all(a.status == 200 for a in answers)
