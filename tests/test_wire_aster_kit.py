"""A plain Aster client for the wire tests: aiohttp plus `hedged.adapters.aster.signing`,
against `aster_app` on 127.0.0.1. No project venue client is involved."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from yarl import URL

from hedged.adapters.aster import signing as signing
from hedged.sim.accounts import Accounts, AsterAgent, AsterV1Key
from hedged.sim.aster.app import aster_app
from hedged.sim.exchange import SimExchange
from hedged.sim.faults import WireFaults
from hedged.sim.pricepath import ScriptedPath
from hedged.sim.records import MarketSpec
from hedged.sim.world import World

D = Decimal
VENUE = "aster"
SYMBOL = "SOLUSDT"
STREAM = "solusdt"
NOW = 1_750_000_000.0  # the V3 vector's nonce, in seconds
ALICE, BOB = "alice", "bob"
API_KEY, SECRET = "aliceKey0123456789", "alice-secret"
BOB_KEY, BOB_SECRET = "bobKey0123456789", "bob-secret"
# The public demo agent of Aster's documentation (docs/venues/aster.md#test-vectors).
AGENT_KEY = "0x4fd0a42218f3eae43a6ce26d22544e986139a01e5b34a62db53757ffca81bae1"
AGENT = "0x21cF8Ae13Bb72632562c6Fff438652Ba1a151bb0"
USER = "0x63DD5aCC6b1aa0f563956C0e534DD30B6dcF7C4e"
PRICE = D(150)  # book 149.98 / 150.02
CENT = D("0.01")
WAIT = 1.0  # seconds to wait for an event that should come

Params = Sequence[tuple[str, str]]


class Clock:
    """The server's clock, moved by the test."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def accounts(extra_keys: Mapping[str, str] | None = None) -> Accounts:
    """alice (a V1 key and the demo agent) and bob (a V1 key); `extra_keys` are alice's too."""
    keys = {
        API_KEY: AsterV1Key(API_KEY, SECRET, ALICE),
        BOB_KEY: AsterV1Key(BOB_KEY, BOB_SECRET, BOB),
    }
    for key, secret in (extra_keys or {}).items():
        keys[key] = AsterV1Key(key, secret, ALICE)
    return Accounts(aster_v1=keys, aster_agents={AGENT.lower(): AsterAgent(USER, AGENT, ALICE)})


def make_world(
    clock: Clock,
    *,
    symbol: str = SYMBOL,
    price: Decimal = PRICE,
    tick: Decimal = CENT,
    step: Decimal = CENT,
    depth_qty: Decimal | None = None,
) -> World:
    """One Aster market at `price` (bid/ask 2 bps apart), alice and bob funded."""
    market = MarketSpec(
        symbol=symbol,
        tick=tick,
        step=step,
        min_qty=step,
        min_notional=D(5),
        max_qty=D(10_000),
        taker_fee=D("0.00035"),
        maker_fee=D("0.0001"),
        depth_qty=depth_qty,
    )
    exchange = SimExchange(VENUE, {symbol: market}, clock)
    for account in (ALICE, BOB):
        exchange.deposit(account, D(100_000))
    return World(ScriptedPath([price]), {VENUE: exchange}, {VENUE: symbol})


@dataclass
class Answer:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]

    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class Sim:
    world: World
    faults: WireFaults
    clock: Clock
    base: str
    session: aiohttp.ClientSession
    nonce: int = field(default=0)

    @property
    def exchange(self) -> SimExchange:
        return self.world.venues[VENUE]

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str = "",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        sent_headers = dict(headers or {})
        if body:
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        # yarl must not re-encode the signed bytes.
        async with self.session.request(
            method, URL(url, encoded=True), data=body or None, headers=sent_headers
        ) as response:
            return Answer(response.status, await response.json(), response.headers)

    async def public(self, path: str, params: Params = (), version: str = "v1") -> Answer:
        query = "&".join(f"{k}={v}" for k, v in params)
        return await self.send("GET", f"/fapi/{version}{path}", query=query)

    async def v1(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        key: str = API_KEY,
        secret: str = SECRET,
        version: str = "v1",
        timestamp_ms: int | None = None,
        recv_window_ms: int = 5000,
    ) -> Answer:
        """Signed V1: params in the query for GET, in the form body otherwise."""
        timestamp = timestamp_ms if timestamp_ms is not None else int(self.clock() * 1000)
        signed = signing.sign_v1(params, secret, timestamp, recv_window_ms)
        return await self._carry(method, f"/fapi/{version}{path}", signed, {"X-MBX-APIKEY": key})

    async def v3(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        user: str | None = USER,
        nonce_us: int | None = None,
    ) -> Answer:
        """Signed V3 by the demo agent, with a fresh microsecond nonce."""
        self.nonce += 1
        nonce = nonce_us if nonce_us is not None else int(self.clock() * 1_000_000) + self.nonce
        signed = signing.sign_v3(
            params, user=user, signer=AGENT, signer_key=AGENT_KEY, nonce_us=nonce
        )
        return await self._carry(method, f"/fapi/v3{path}", signed, {})

    async def key_only(self, method: str, path: str, key: str = API_KEY) -> Answer:
        return await self.send(method, f"/fapi/v1{path}", headers={"X-MBX-APIKEY": key})

    async def admin(self, method: str, path: str, json: Any = None) -> Any:
        async with self.session.request(method, f"{self.base}/_admin{path}", json=json) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def ws(self, path: str, *, autoping: bool = True) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(f"{self.base}{path}", autoping=autoping)

    async def listen_key(self) -> str:
        answer = await self.key_only("POST", "/listenKey")
        assert answer.status == 200, answer.body
        key: str = answer.body["listenKey"]
        return key

    async def _carry(self, method: str, path: str, signed: str, headers: dict[str, str]) -> Answer:
        if method == "GET":
            return await self.send(method, path, query=signed, headers=headers)
        return await self.send(method, path, body=signed, headers=headers)


@contextlib.asynccontextmanager
async def open_sim(
    *,
    world: World | None = None,
    clock: Clock | None = None,
    extra_keys: Mapping[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[Sim]:
    """`aster_app` on a free port of 127.0.0.1 and a client session for it."""
    clock = clock or Clock()
    world = world or make_world(clock)
    faults = WireFaults()
    app = aster_app(world, VENUE, accounts(extra_keys), faults, clock=clock, **options)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Sim(world, faults, clock, str(server.make_url("")).rstrip("/"), session)
    finally:
        await server.close()


async def next_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = WAIT) -> Any:
    return await asyncio.wait_for(ws.receive_json(), timeout)


async def events_until(
    ws: aiohttp.ClientWebSocketResponse, done: str, *, key: str = "e"
) -> list[dict[str, Any]]:
    """Events up to and including the first whose `key` field is `done`."""
    events: list[dict[str, Any]] = []
    while not events or events[-1].get(key) != done:
        events.append(await next_json(ws))
    return events


def order_updates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["o"] for e in events if e.get("e") == "ORDER_TRADE_UPDATE"]
