"""Shared pieces of the `test_client_backpack_*` tests (no tests here): credentials with known
values, fast policies, a canned-answer HTTP + WebSocket server on 127.0.0.1 that records what
the client sent, and a raw TCP server for answers that are not HTTP at all."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.http import HttpPolicy
from hedged.adapters.ws import StreamPolicy
from hedged.config import BackpackConfig
from hedged.secrets import BackpackCredentials, Secret

D = Decimal
SYMBOL = "SOL_USDC_PERP"
# docs/venues/backpack.md#test-vectors: seed 32 x 0x01 and its public key; the vectors' timestamp.
SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
API_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
T0_MS = 1_750_000_000_000
WAIT = 3.0  # seconds to wait for something that must happen

FAST = HttpPolicy(
    timeout=1.0,
    connect_timeout=1.0,
    read_attempts=3,
    backoff=0.01,
    backoff_max=0.02,
    rate_limited_pause=0.05,
    requests_per_second=1000.0,
)
FAST_STREAM = StreamPolicy(heartbeat=5.0, connect_timeout=1.0, backoff=0.02, backoff_max=0.1)

MARKET: dict[str, Any] = {
    "symbol": SYMBOL,
    "baseSymbol": "SOL",
    "quoteSymbol": "USDC",
    "marketType": "PERP",
    "orderBookState": "Open",
    "filters": {
        "price": {"minPrice": "0.01", "maxPrice": None, "tickSize": "0.01"},
        "quantity": {"minQuantity": "0.01", "maxQuantity": "10000", "stepSize": "0.01"},
    },
}


def order_json(
    client_id: int | None = 42,
    *,
    status: str = "Filled",
    order_type: str = "Market",
    side: str = "Bid",
    qty: str = "0.5",
    executed: str = "0.5",
    executed_quote: str = "75.01",
    price: str | None = None,
    order_id: str = "111",
    created_at: object = 1_750_000_000_000,
    reduce_only: bool | None = None,
) -> dict[str, Any]:
    """A REST Order as Backpack writes it (docs/venues/backpack.md#orders)."""
    body: dict[str, Any] = {
        "id": order_id,
        "clientId": client_id,
        "symbol": SYMBOL,
        "side": side,
        "orderType": order_type,
        "quantity": qty,
        "executedQuantity": executed,
        "executedQuoteQuantity": executed_quote,
        "status": status,
        "timeInForce": "GTC",
        "selfTradePrevention": "RejectTaker",
        "reduceOnly": reduce_only,
        "createdAt": created_at,
        "triggerPrice": None,
        "triggerQuantity": None,
        "relatedOrderId": None,
    }
    if order_type == "Limit":
        body["price"] = price
        body["postOnly"] = False
    else:
        body["quoteQuantity"] = None
    return body


def credentials(api_key: str = API_KEY, secret: str = SECRET) -> BackpackCredentials:
    return BackpackCredentials(api_key=Secret(api_key), api_secret=Secret(secret))


class PinnedClock:
    """Wall time shifted by `offset` seconds, or a fixed instant."""

    def __init__(self, pinned: float | None = None, offset: float = 0.0) -> None:
        self.pinned = pinned
        self.offset = offset

    def __call__(self) -> float:
        return self.pinned if self.pinned is not None else time.time() + self.offset


# -- the canned server ---------------------------------------------------------------------

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(
    status: int,
    body: Any = None,
    *,
    text: str | None = None,
    content_type: str = "text/plain",
    **headers: str,
) -> Answer:
    """A fixed answer: `body` as JSON, or `text` verbatim."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(
                status=status, text=text, content_type=content_type, headers=headers
            )
        return web.json_response(body, status=status, headers=headers)

    return answer


def drop() -> Answer:
    """Close the connection without answering (what a reset or accept-then-timeout looks like)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError

    return answer


def hang(seconds: float = 2.0) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({})

    return answer


def truncated(status: int, partial: bytes, claimed: int = 4096) -> Answer:
    """Promise `claimed` bytes, send `partial`, hang up."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status)
        response.content_type = "application/json"
        response.content_length = claimed
        await response.prepare(request)
        await response.write(partial)
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError

    return answer


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


@dataclass
class Canned:
    """Answers by (method, path): each request takes the next answer, the last one repeats.
    `/api/v1/time` and `/api/v1/market` answer sensibly unless told otherwise."""

    server_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)  # WebSocket frames received
    pongs: int = 0
    answer_pings: bool = True
    ws_connections: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    url: str = ""

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    def config(self, window_ms: int = 5000) -> BackpackConfig:
        return BackpackConfig(base_url=self.url, ws_url=self.url + "/ws", window_ms=window_ms)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        answers = self.routes.get((request.method, request.path))
        if answers:
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return await answer(request)
        if request.path == "/api/v1/time":
            return web.Response(text=str(self.server_ms()))
        if request.path == "/api/v1/market":
            return web.json_response(MARKET)
        return web.json_response({"code": "RESOURCE_NOT_FOUND", "message": "Not Found"}, status=404)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.ws_connections += 1
        self.sockets.append(ws)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self.frames.append(json.loads(message.data))
                elif message.type is WSMsgType.PING and self.answer_pings:
                    await ws.pong(message.data)
                elif message.type is WSMsgType.PONG:
                    self.pongs += 1
        finally:
            self.sockets.remove(ws)
        return ws

    async def push(self, stream: str, data: Any) -> None:
        for ws in list(self.sockets):
            await ws.send_str(json.dumps({"stream": stream, "data": data}))

    async def send_raw(self, text: str) -> None:
        for ws in list(self.sockets):
            await ws.send_str(text)

    async def close_sockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    def subscribed(self, stream: str) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames
            if f.get("method") == "SUBSCRIBE" and stream in f.get("params", ())
        ]


@asynccontextmanager
async def canned_server(server_ms: Callable[[], int] | None = None) -> AsyncIterator[Canned]:
    canned = Canned() if server_ms is None else Canned(server_ms=server_ms)
    app = web.Application()
    app.router.add_get("/ws", canned.websocket)
    app.router.add_route("*", "/{tail:.*}", canned.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    canned.url = str(server.make_url("")).rstrip("/")
    try:
        yield canned
    finally:
        await server.close()


@asynccontextmanager
async def venue_on(
    canned: Canned,
    *,
    clock: Callable[[], float] = time.time,
    policy: HttpPolicy = FAST,
    stream_policy: StreamPolicy = FAST_STREAM,
    window_ms: int = 5000,
    start: bool = True,
) -> AsyncIterator[BackpackVenue]:
    venue = BackpackVenue(
        canned.config(window_ms),
        credentials(),
        SYMBOL,
        clock=clock,
        http_policy=policy,
        stream_policy=stream_policy,
    )
    try:
        if start:
            await venue.start()
        yield venue
    finally:
        await venue.close()


@asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[str]:
    """A TCP server that reads a request head, writes `answer` verbatim and hangs up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
