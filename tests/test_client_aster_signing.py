"""The Aster client's requests on the wire: the signing vectors
(docs/venues/aster.md#test-vectors) through the client's own signing path, byte for byte, and
the params each order becomes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
from test_client_aster_kit import (
    CLIENT_ID,
    FAST,
    SYMBOL,
    V1_API_KEY,
    V3_SIGNER,
    CannedServer,
    Clock,
    canned,
    canned_server,
    make_venue,
    order_json,
)
from test_client_aster_kit import (
    V1_SECRET as CLIENT_V1_SECRET,
)
from vectors import (
    V1_PAYLOAD,
    V1_SECRET,
    V1_SIGNATURE,
    V3_KEY,
    V3_MSG,
    V3_PARAMS,
    V3_SIGNATURE,
    V3_USER,
)

from hedged.adapters.aster.auth import Nonces, make_signer
from hedged.adapters.aster.http import AsterHttp, Security
from hedged.adapters.base import Accepted
from hedged.adapters.clock import ServerClock
from hedged.config import AsterConfig
from hedged.model import OrderRequest, OrderType, Side
from hedged.secrets import AsterCredentials, Secret
from hedged.sim.aster.signing import CHAIN_ID_MAINNET, recover_signer, verify_v1

D = Decimal

# --- signing vectors (docs/venues/aster.md#test-vectors) -------------------------------------

V1_PARAMS = [
    ("symbol", "BTCUSDT"),
    ("side", "BUY"),
    ("type", "LIMIT"),
    ("quantity", "1"),
    ("price", "9000"),
    ("timeInForce", "GTC"),
]
V1_TIMESTAMP = 1591702613.943
V1_WIRE = f"{V1_PAYLOAD}&signature={V1_SIGNATURE}"

V3_NOW = 1_750_000_000.0
V3_WIRE = f"{V3_MSG}&signature=0x{V3_SIGNATURE}"


def vector_credentials() -> AsterCredentials:
    return AsterCredentials(
        user=V3_USER,
        signer=V3_SIGNER,
        signer_key=Secret(V3_KEY),
        api_key=Secret(V1_API_KEY),
        api_secret=Secret(V1_SECRET),
    )


def http_for(server: CannedServer, auth: str, clock: Clock) -> AsterHttp:
    config = AsterConfig(base_url=server.url, auth="v1" if auth == "v1" else "v3")
    server_clock = ServerClock(clock)
    return AsterHttp(
        server.url, make_signer(config, vector_credentials(), server_clock), server_clock, FAST
    )


@pytest.fixture
async def session_http() -> AsyncIterator[tuple[CannedServer, Clock]]:
    clock = Clock(V1_TIMESTAMP)
    async with canned_server(clock) as server:
        server.fallback = canned({})
        yield server, clock


async def test_v1_vector_is_sent_byte_for_byte_in_the_body_and_the_query(
    session_http: tuple[CannedServer, Clock],
) -> None:
    server, clock = session_http
    http = http_for(server, "v1", clock)
    await http.open()
    try:
        await http.send("POST", "/fapi/v1/order", V1_PARAMS, security=Security.SIGNED, weight=1)
        await http.send("GET", "/fapi/v1/order", V1_PARAMS, security=Security.SIGNED, weight=1)
    finally:
        await http.close()
    post, get = server.seen
    assert (post.body, post.query) == (V1_WIRE, "")
    assert (get.query, get.body) == (V1_WIRE, "")
    assert post.headers["X-MBX-APIKEY"] == get.headers["X-MBX-APIKEY"] == V1_API_KEY
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_v3_vector_is_sent_byte_for_byte_and_nonces_never_repeat(
    session_http: tuple[CannedServer, Clock],
) -> None:
    server, clock = session_http
    clock.now = V3_NOW
    http = http_for(server, "v3", clock)
    await http.open()
    try:
        for _ in range(3):  # the same microsecond, three times
            await http.send("POST", "/fapi/v3/order", V3_PARAMS, security=Security.SIGNED, weight=1)
    finally:
        await http.close()
    first, *others = server.seen
    assert first.body == V3_WIRE
    assert "X-MBX-APIKEY" not in first.headers
    nonces = [dict(parse_qsl(seen.body))["nonce"] for seen in server.seen]
    assert nonces == ["1750000000000000", "1750000000000001", "1750000000000002"]
    for seen in others:
        msg, _, signature = seen.body.rpartition("&signature=")
        assert recover_signer(msg, signature, CHAIN_ID_MAINNET) == V3_SIGNER


def test_nonces_increase_even_when_the_clock_goes_back() -> None:
    nonces = Nonces()
    assert [nonces.next(t) for t in (100, 100, 50, 103, 200)] == [100, 101, 102, 103, 200]


def test_server_clock_offset_is_measured_at_the_round_trip_midpoint() -> None:
    clock = ServerClock(Clock(1000.0))
    clock.measure(sent=1000.0, received=1000.2, server_ms=1_003_100)
    assert clock.offset_us == 3_000_000
    assert clock.now_ms() == 1_003_000


@pytest.mark.parametrize(
    ("auth", "recv_window_ms", "window"),
    [("v1", 5000, 5.0), ("v1", 60000, 60.0), ("v3", 5000, 60.0)],
)
def test_signature_window(auth: str, recv_window_ms: int, window: float) -> None:
    venue = make_venue(
        "http://127.0.0.1:1",
        auth="v1" if auth == "v1" else "v3",
        clock=Clock(V3_NOW),
        recv_window_ms=recv_window_ms,
    )
    assert venue.signature_window == window


def test_v3_rejects_a_signer_that_is_not_the_key_s_address() -> None:
    config = AsterConfig(auth="v3")
    wrong = AsterCredentials(V3_USER, V3_USER, Secret(V3_KEY), None, None)
    with pytest.raises(ValueError, match="not the address") as raised:
        make_signer(config, wrong, ServerClock())
    assert V3_KEY.removeprefix("0x") not in str(raised.value)


def test_missing_credentials_are_named() -> None:
    empty = AsterCredentials(None, None, None, None, None)
    with pytest.raises(ValueError, match="aster_api_key"):
        make_signer(AsterConfig(auth="v1"), empty, ServerClock())
    with pytest.raises(ValueError, match="aster_signer_key"):
        make_signer(AsterConfig(auth="v3"), empty, ServerClock())


# --- what each order becomes ------------------------------------------------------------------

MARKET_SELL = OrderRequest(CLIENT_ID, SYMBOL, Side.SELL, OrderType.MARKET, D("0.010"))
TAKE_PROFIT = OrderRequest(
    CLIENT_ID, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.010"), price=D("59000.0"), reduce_only=True
)


async def sent_params(order: OrderRequest, *, auth: str, dual: bool) -> list[tuple[str, str]]:
    clock = Clock(V3_NOW)
    async with canned_server(clock) as server:
        server.dual = dual
        path = f"/fapi/{'v1' if auth == 'v1' else 'v3'}/order"
        body = order_json(side=order.side.value, type_=order.type.value, status="NEW")
        server.script("POST", path, canned(body))
        venue = make_venue(server.url, auth="v1" if auth == "v1" else "v3", clock=clock)
        await venue.start()
        try:
            outcome = await venue.place(order)
        finally:
            await venue.close()
        assert isinstance(outcome, Accepted)
        (seen,) = server.calls("POST", path)
    if auth == "v1":
        assert verify_v1(
            seen.query,
            seen.body,
            CLIENT_V1_SECRET,
        )
    else:
        msg, _, signature = seen.body.rpartition("&signature=")
        assert recover_signer(msg, signature, CHAIN_ID_MAINNET) == V3_SIGNER
    return parse_qsl(seen.body)


AUTH = ("v1", "v3")
TAIL = {
    "v1": ["recvWindow", "timestamp", "signature"],
    "v3": ["nonce", "user", "signer", "signature"],
}


@pytest.mark.parametrize("auth", AUTH)
async def test_market_sell_in_one_way_mode(auth: str) -> None:
    params = await sent_params(MARKET_SELL, auth=auth, dual=False)
    assert params[:6] == [
        ("symbol", SYMBOL),
        ("side", "SELL"),
        ("type", "MARKET"),
        ("quantity", "0.010"),
        ("newClientOrderId", CLIENT_ID),
        ("newOrderRespType", "RESULT"),
    ]
    assert [k for k, _ in params[6:]] == TAIL[auth]


@pytest.mark.parametrize("auth", AUTH)
async def test_reduce_only_limit_in_one_way_mode(auth: str) -> None:
    params = await sent_params(TAKE_PROFIT, auth=auth, dual=False)
    assert params[:9] == [
        ("symbol", SYMBOL),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("quantity", "0.010"),
        ("price", "59000.0"),
        ("timeInForce", "GTC"),
        ("reduceOnly", "true"),
        ("newClientOrderId", CLIENT_ID),
        ("newOrderRespType", "RESULT"),
    ]


@pytest.mark.parametrize("order", [MARKET_SELL, TAKE_PROFIT], ids=["entry", "take-profit"])
async def test_hedge_mode_sends_position_side_short_and_never_reduce_only(
    order: OrderRequest,
) -> None:
    params = dict(await sent_params(order, auth="v3", dual=True))
    assert params["positionSide"] == "SHORT"
    assert "reduceOnly" not in params


async def test_start_measures_the_server_clock_offset() -> None:
    local = Clock(V3_NOW)
    async with canned_server(Clock(V3_NOW + 3600.25)) as server:
        venue = make_venue(server.url, auth="v1", clock=local)
        await venue.start()
        await venue.close()
        signed = [s for s in server.seen if "timestamp=" in s.query + s.body]
    assert venue.clock.offset_us == 3_600_250_000
    for seen in signed:
        assert dict(parse_qsl(seen.query + seen.body))["timestamp"] == str(
            round((V3_NOW + 3600.25) * 1000)
        )
