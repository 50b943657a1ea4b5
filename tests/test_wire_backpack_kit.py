"""A Backpack server on 127.0.0.1 and a plain aiohttp client that signs with
`hedged.adapters.backpack.signing`, for the `test_wire_backpack_*` tests (no tests here)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from hedged import keys
from hedged.adapters.backpack import signing as bp
from hedged.sim.accounts import Accounts, BackpackKey
from hedged.sim.backpack.app import BackpackLimits, backpack_app
from hedged.sim.faults import WireFaults
from hedged.sim.world import BACKPACK_SYMBOL, World, default_world

D = Decimal
SYMBOL = BACKPACK_SYMBOL
VENUE = "backpack"
# docs/venues/backpack.md#test-vectors: seed 32 x 0x01 and its public key.
SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
API_KEY = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="
BOB_SECRET = base64.b64encode(bytes([2] * 32)).decode()
BOB_KEY = keys.public_key_b64(BOB_SECRET)
START_BALANCE = D(10_000)
# The default world at 150 with a 2 bp spread on a 0.01 tick.
BID, ASK = D("149.98"), D("150.02")
WAIT = 5.0  # seconds to wait for a push that must come
MARKER_ID = 424_242  # `id` of the frame `settle` sends


class Clock:
    """Wall time, unless pinned (to make a test vector's timestamp fresh)."""

    def __init__(self, pinned: float | None = None) -> None:
        self.pinned = pinned

    def __call__(self) -> float:
        return self.pinned if self.pinned is not None else time.time()

    def ms(self) -> int:
        return int(self() * 1000)


@dataclass
class Reply:
    status: int
    body: Any  # parsed JSON, else the text

    @property
    def error(self) -> tuple[str, str]:
        return self.body["code"], self.body["message"]


async def read_reply(response: aiohttp.ClientResponse) -> Reply:
    text = await response.text()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    return Reply(response.status, body)


class Client:
    """Backpack REST as a client writes it: signed params are the JSON body for POST/DELETE,
    the query for GET; every value is rendered the way it is signed."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, secret: str, clock: Clock
    ) -> None:
        self.session = session
        self.url = url
        self.api_key = api_key
        self.secret = secret
        self.clock = clock

    async def public(self, path: str, **query: str) -> Reply:
        async with self.session.get(self.url + path, params=query) as response:
            return await read_reply(response)

    async def signed(
        self,
        method: str,
        path: str,
        instruction: str,
        params: Mapping[str, object] | None = None,
        *,
        timestamp: int | None = None,
        window: int = bp.DEFAULT_WINDOW_MS,
    ) -> Reply:
        params = dict(params or {})
        stamp = self.clock.ms() if timestamp is None else timestamp
        headers = bp.headers(self.api_key, self.secret, instruction, params, stamp, window)
        return await self.send(method, path, headers, params)

    async def send(
        self, method: str, path: str, headers: Mapping[str, str], params: Mapping[str, object]
    ) -> Reply:
        """One request with these auth headers, `params` as the body or the query."""
        if method == "GET":
            query = {key: bp.render_value(value) for key, value in params.items()}
            request = self.session.get(self.url + path, params=query, headers=headers)
        else:
            body = json.dumps({k: _json_value(v) for k, v in params.items()})
            headers = {**headers, "Content-Type": "application/json; charset=utf-8"}
            request = self.session.request(method, self.url + path, data=body, headers=headers)
        async with request as response:
            return await read_reply(response)

    async def place(self, **fields: object) -> Reply:
        return await self.signed("POST", "/api/v1/order", "orderExecute", fields)

    async def market(self, side: str, qty: str, **fields: object) -> Reply:
        order = {"symbol": SYMBOL, "side": side, "orderType": "Market", "quantity": qty}
        return await self.place(**order, **fields)

    async def limit(self, side: str, qty: str, price: str, **fields: object) -> Reply:
        order = {"symbol": SYMBOL, "side": side, "orderType": "Limit", "quantity": qty}
        return await self.place(**order, price=price, **fields)

    async def query(self, **ids: object) -> Reply:
        return await self.signed("GET", "/api/v1/order", "orderQuery", {"symbol": SYMBOL, **ids})

    async def cancel(self, **ids: object) -> Reply:
        params = {"symbol": SYMBOL, **ids}
        return await self.signed("DELETE", "/api/v1/order", "orderCancel", params)

    async def position(self) -> Reply:
        return await self.signed("GET", "/api/v1/position", "positionQuery")

    async def fills(self, **filters: object) -> Reply:
        path = "/wapi/v1/history/fills"
        return await self.signed("GET", path, "fillHistoryQueryAll", filters)


def _json_value(value: object) -> object:
    return bp.render_value(value) if isinstance(value, Decimal) else value


@dataclass
class Server:
    world: World
    faults: WireFaults
    clock: Clock
    url: str
    session: aiohttp.ClientSession
    alice: Client
    bob: Client

    async def admin(self, method: str, path: str, body: object = None) -> Reply:
        async with self.session.request(method, self.url + path, json=body) as response:
            return await read_reply(response)

    async def ws(self, *, autoping: bool = True) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(self.url + "/", autoping=autoping)

    def ws_signature(self, secret: str = SECRET, api_key: str = API_KEY) -> list[str]:
        stamp = self.clock.ms()
        message = bp.signing_string("subscribe", {}, stamp, bp.DEFAULT_WINDOW_MS)
        return [api_key, bp.sign(secret, message), str(stamp), str(bp.DEFAULT_WINDOW_MS)]

    async def subscribe(
        self, ws: aiohttp.ClientWebSocketResponse, *streams: str, signed: bool = False
    ) -> list[Any]:
        """Subscribe; the frames the server answered with (snapshots, errors)."""
        frame: dict[str, object] = {"method": "SUBSCRIBE", "params": list(streams)}
        if signed:
            frame["signature"] = self.ws_signature()
        await ws.send_json(frame)
        return await settle(ws)


@asynccontextmanager
async def serve(
    *,
    clock: Clock | None = None,
    limits: BackpackLimits | None = None,
    depth_qty: Decimal | None = None,
) -> AsyncIterator[Server]:
    """A fresh world at 150 and its Backpack server; alice and bob hold 10 000 USDC."""
    clock = clock or Clock()
    world = default_world(start_price=D(150), depth_qty=depth_qty)
    faults = WireFaults()
    accounts = Accounts(
        backpack={API_KEY: BackpackKey(API_KEY, "alice"), BOB_KEY: BackpackKey(BOB_KEY, "bob")},
        balances={"alice": START_BALANCE, "bob": START_BALANCE},
    )
    app = backpack_app(world, VENUE, accounts, faults, clock=clock, limits=limits)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            alice = Client(session, url, API_KEY, SECRET, clock)
            bob = Client(session, url, BOB_KEY, BOB_SECRET, clock)
            yield Server(world, faults, clock, url, session, alice, bob)
    finally:
        await runner.cleanup()


async def push(ws: aiohttp.ClientWebSocketResponse, stream: str, timeout: float = WAIT) -> Any:
    """The `data` of the next frame on `stream` (frames of other streams are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive_json()
            if frame.get("stream") == stream:
                return frame["data"]


async def settle(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """The frames that arrive before the server refuses a marker frame: it handles a socket's
    frames in order, so everything it had to say about the earlier ones."""
    await ws.send_json({"method": "SETTLE", "id": MARKER_ID})
    arrived: list[Any] = []
    async with asyncio.timeout(WAIT):
        while (frame := await ws.receive_json()).get("id") != MARKER_ID:
            arrived.append(frame)
    assert frame["error"]["code"] == 4000
    return arrived


async def received(
    ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float = WAIT
) -> list[Any]:
    """The next `count` JSON frames (waits for each, however slow the machine)."""
    async with asyncio.timeout(timeout):
        return [await ws.receive_json() for _ in range(count)]


async def frames(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.2) -> list[Any]:
    """Every JSON frame that arrives until `quiet` seconds pass without one (to show that
    nothing more comes; use `received` to wait for frames that must come)."""
    arrived: list[Any] = []
    while True:
        try:
            async with asyncio.timeout(quiet):  # receive's own timeout restarts on each ping
                message = await ws.receive()
        except TimeoutError:
            return arrived
        if message.type is not aiohttp.WSMsgType.TEXT:
            return arrived
        arrived.append(json.loads(message.data))


def by_stream(arrived: list[Any]) -> dict[str, list[Any]]:
    """The `data` of data frames, grouped by stream in arrival order."""
    grouped: dict[str, list[Any]] = {}
    for frame in arrived:
        if "stream" in frame:
            grouped.setdefault(frame["stream"], []).append(frame["data"])
    return grouped
