"""Helpers for the Aster client tests: a tiny canned-response server on 127.0.0.1 and
venues pointed at it. Holds no tests itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.http import HttpPolicy
from hedged.adapters.ws import StreamPolicy
from hedged.config import AsterConfig
from hedged.secrets import AsterCredentials, Secret

D = Decimal
SYMBOL = "BTCUSDT"
CLIENT_ID = "hd0000002a-7"

# Known credential values: tests assert that none of them ever shows up anywhere.
V1_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
V1_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
# The public demo agent of Aster's documentation (docs/venues/aster.md#test-vectors).
V3_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
V3_SIGNER = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
V3_USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
SECRET_VALUES = (V1_API_KEY, V1_SECRET, V3_KEY, V3_KEY.removeprefix("0x"))

FAST = HttpPolicy(
    timeout=0.5,
    read_attempts=3,
    backoff=0.01,
    backoff_max=0.05,
    max_wait=2.0,
    write_wait=0.5,
    rate_limited_pause=0.05,
    banned_pause=0.05,
)
FAST_STREAMS = StreamPolicy(connect_timeout=1.0, heartbeat=5.0, backoff=0.02, backoff_max=0.2)

Mode = Literal["answer", "drop", "truncate", "slow"]


@dataclass(frozen=True)
class Canned:
    """One scripted answer: `drop` closes without answering, `truncate` sends headers that
    promise the whole body and half of it, `slow` answers after `delay` seconds."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    mode: Mode = "answer"
    delay: float = 0.0


def canned(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Canned:
    return Canned(status, json.dumps(body).encode(), headers or {})


def error(code: int, msg: str = "refused", status: int = 400) -> Canned:
    return canned({"code": code, "msg": msg}, status)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]


def order_json(
    client_id: str = CLIENT_ID,
    *,
    symbol: str = SYMBOL,
    status: str = "FILLED",
    side: str = "SELL",
    type_: str = "MARKET",
    qty: str = "0.010",
    executed: str | None = None,
    avg: str = "60000.10",
    price: str = "0",
    reduce_only: bool = False,
    order_id: int = 8886774,
) -> dict[str, Any]:
    done = executed if executed is not None else (qty if status == "FILLED" else "0")
    return {
        "orderId": order_id,
        "symbol": symbol,
        "status": status,
        "clientOrderId": client_id,
        "price": price,
        "avgPrice": avg if D(done) > 0 else "0.00000",
        "origQty": qty,
        "executedQty": done,
        "cumQty": done,
        "cumQuote": "600.001",
        "timeInForce": "GTC",
        "type": type_,
        "reduceOnly": reduce_only,
        "closePosition": False,
        "side": side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": type_,
        "time": 1750000000000,
        "updateTime": 1750000000000,
    }


def exchange_info(*symbols: str) -> dict[str, Any]:
    def entry(symbol: str) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "status": "TRADING",
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "1",
                    "maxPrice": "1000000",
                    "tickSize": "0.1",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "0.001",
                    "maxQty": "1000",
                    "stepSize": "0.001",
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": "0.001",
                    "maxQty": "120",
                    "stepSize": "0.001",
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0200",
                    "multiplierDown": "0.9800",
                    "multiplierDecimal": "4",
                },
            ],
        }

    return {"timezone": "UTC", "serverTime": 1, "symbols": [entry(s) for s in symbols]}


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CannedServer:
    """Answers start-up calls sensibly by default; everything else from scripts per
    (method, path), or from `fallback`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.scripts: dict[tuple[str, str], list[Canned]] = {}
        self.fallback: Canned | None = None
        self.seen: list[Seen] = []
        self.dual = False
        self.server: TestServer | None = None

    def script(self, method: str, path: str, *answers: Canned) -> None:
        self.scripts.setdefault((method, path), []).extend(answers)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def _default(self, method: str, path: str) -> Canned | None:
        rest = path.removeprefix("/fapi/").partition("/")[2]
        match method, rest:
            case "GET", "time":
                return canned({"serverTime": round(self.clock() * 1000)})
            case "GET", "exchangeInfo":
                return canned(exchange_info(SYMBOL, "SOLUSDT"))
            case "GET", "positionSide/dual":
                return canned({"dualSidePosition": self.dual})
            case "POST", "leverage":
                return canned({"leverage": 1, "maxNotionalValue": "1000000", "symbol": SYMBOL})
            case "POST", "marginType":
                return error(-4046, "No need to change margin type.")
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.raw_path.partition("?")[2],
                body,
                dict(request.headers),
            )
        )
        queue = self.scripts.get((request.method, request.path))
        answer = queue.pop(0) if queue else self._default(request.method, request.path)
        answer = answer or self.fallback or error(-9999, "no script", 404)
        return await self._answer(request, answer)

    async def _answer(self, request: web.Request, answer: Canned) -> web.StreamResponse:
        if answer.mode == "slow":
            await asyncio.sleep(answer.delay)
        if answer.mode == "drop":
            _drop(request)
        if answer.mode == "truncate":
            response = web.StreamResponse(status=answer.status, headers=answer.headers)
            response.content_type = "application/json"
            response.content_length = len(answer.body) + 1
            await response.prepare(request)
            await response.write(answer.body[: len(answer.body) // 2])
            _drop(request)
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={"Content-Type": "application/json", **answer.headers},
        )


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


@contextlib.asynccontextmanager
async def canned_server(clock: Callable[[], float]) -> AsyncIterator[CannedServer]:
    canned_venue = CannedServer(clock)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", canned_venue.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    canned_venue.server = server
    try:
        yield canned_venue
    finally:
        await server.close()


def credentials() -> AsterCredentials:
    return AsterCredentials(
        user=V3_USER,
        signer=V3_SIGNER,
        signer_key=Secret(V3_KEY),
        api_key=Secret(V1_API_KEY),
        api_secret=Secret(V1_SECRET),
    )


def make_venue(
    base_url: str,
    *,
    auth: Literal["v1", "v3"] = "v3",
    clock: Callable[[], float],
    http_policy: HttpPolicy = FAST,
    recv_window_ms: int = 5000,
    symbol: str = SYMBOL,
) -> AsterVenue:
    config = AsterConfig(
        base_url=base_url,
        ws_url=base_url.replace("http://", "ws://"),
        auth=auth,
        recv_window_ms=recv_window_ms,
    )
    return AsterVenue(
        config,
        credentials(),
        symbol,
        clock=clock,
        http_policy=http_policy,
        stream_policy=FAST_STREAMS,
    )


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def garbage_server(reply: bytes) -> AsyncIterator[str]:
    """A TCP server that answers anything with `reply` and hangs up: not HTTP at all."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
