"""One venue's wire simulator in a process of its own, steered by the benchmarks.

The daemon under test talks to it exactly as in paper mode: the real Aster or Backpack
server of `hedged.sim` on a loopback port, HTTP and WebSocket, signatures checked. The
benchmark steers it through a small JSON control API on a second port:

    POST /ctl/price      {"price": "100"}                 publish one price
    POST /ctl/heartbeat  {"hz": 20}                       re-publish the price hz times a second
    POST /ctl/play       {"mids": [...], "start_at": t, "interval": s, "stop_on_order": bool,
                          "hold": s}                      a timed price path (see `play`)
    POST /ctl/halt                                        end a running play now
    POST /ctl/seed       {"account": a, "orders": [...]}  orders placed in the matching core
    GET  /ctl/log?since=n                                 what reached the venue API, and when
    POST /ctl/shutdown

Each venue runs in its own process (not both in one, as `SimServers` does) so that one
simulator's work — Aster V3 signature recovery, an ECDSA key recovery per request —
cannot delay the other's arrival timestamps: leg skew is measured between the two.
Every time is `time.monotonic()`, which on Linux is CLOCK_MONOTONIC, shared by all processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Handler

from hedged.model import OrderRequest, OrderType, Side
from hedged.sim.accounts import Accounts
from hedged.sim.aster.app import ASTER_STATE, aster_app
from hedged.sim.aster.routes import ROUTES as ASTER_ROUTES
from hedged.sim.backpack.app import backpack_app
from hedged.sim.backpack.limits import BackpackLimits
from hedged.sim.backpack.state import STATE as BACKPACK_STATE
from hedged.sim.exchange import SimExchange
from hedged.sim.faults import WireFaults
from hedged.sim.pricepath import GbmPath
from hedged.sim.records import OrderRefused
from hedged.sim.world import FEE_PLACES, World, sol_market

ASTER, BACKPACK = "aster", "backpack"
UNLIMITED = 10**9


@dataclass(frozen=True)
class VenueSpec:
    venue: str  # "aster" or "backpack"
    symbol: str
    accounts: Accounts
    start_price: Decimal = Decimal(100)
    spread_bps: Decimal = Decimal(2)
    # The venue's published rate limits (True) or none at all (compressed lifecycles).
    real_limits: bool = True
    taker_fee: Decimal = Decimal("0.0004")
    maker_fee: Decimal = Decimal("0.0002")
    more: tuple[str, ...] = ()  # further symbols, quoted on the same price (many pairs)


def serve(spec: VenueSpec, conn: Connection) -> None:
    """Process entry point: serve until /ctl/shutdown; the ports go back through `conn`."""
    asyncio.run(VenueProcess(spec).run(conn))


def _aster_weights() -> dict[tuple[str, str], Callable[[Any], int]]:
    weights: dict[tuple[str, str], Callable[[Any], int]] = {}
    for route in ASTER_ROUTES:
        for version in (route.legacy, "v3"):
            weights[(route.method, f"/fapi/{version}{route.path}")] = route.weight
    return weights


def order_client_id(body: str, query: str = "") -> str | None:
    """The client id of a new order: in Backpack's JSON body, or in Aster's form fields (query
    string and body)."""
    if body.startswith("{"):
        try:
            value = json.loads(body).get("clientId")
        except (ValueError, AttributeError):
            return None
        return None if value is None else str(value)
    return dict(parse_qsl(query + "&" + body)).get("newClientOrderId")


class VenueProcess:
    def __init__(self, spec: VenueSpec) -> None:
        self.spec = spec
        symbols = (spec.symbol, *spec.more)
        markets = {
            symbol: sol_market(
                symbol,
                taker_fee=spec.taker_fee,
                maker_fee=spec.maker_fee,
                fee_places=FEE_PLACES[spec.venue],
            )
            for symbol in symbols
        }
        self.exchange = SimExchange(spec.venue, markets)
        for account, balance in spec.accounts.balances.items():
            self.exchange.deposit(account, balance)
        self.world = World(
            GbmPath(spec.start_price, Decimal(1), 1),
            {spec.venue: self.exchange},
            {spec.venue: symbols},
            basis_bps=Decimal(0),
            spread_bps=spec.spread_bps,
        )
        # (monotonic time, method, path, client id of an order placement, Aster weight)
        self.log: list[tuple[float, str, str, str | None, int]] = []
        self.orders_seen = 0  # order placements so far
        self.order_arrived = asyncio.Event()
        self.halted = False
        self._hz = 0.0
        self._heartbeat: asyncio.Task[None] | None = None
        self._weights = _aster_weights() if spec.venue == ASTER else {}
        self._done = asyncio.Event()
        self.app = self._venue_app()

    # -- the venue ---------------------------------------------------------------------------

    def _venue_app(self) -> web.Application:
        spec = self.spec
        if spec.venue == ASTER:
            limit = 2400 if spec.real_limits else UNLIMITED
            orders = 1200 if spec.real_limits else UNLIMITED
            app = aster_app(
                self.world,
                ASTER,
                spec.accounts,
                WireFaults(),
                weight_limit=limit,
                order_limit=orders,
            )
        else:
            limits = BackpackLimits() if spec.real_limits else BackpackLimits(requests=UNLIMITED)
            app = backpack_app(self.world, BACKPACK, spec.accounts, WireFaults(), limits=limits)
        app.middlewares.insert(0, self._arrivals)  # outermost: before auth, limits and faults
        return app

    def update_id(self) -> int:
        """The venue's book update counter: the `u` of its bookTicker pushes."""
        if self.spec.venue == ASTER:
            return int(self.app[ASTER_STATE].update_id)
        return int(self.app[BACKPACK_STATE].book_updates)

    @web.middleware
    async def _arrivals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        t = time.monotonic()
        method, path = request.method, request.path
        client_id: str | None = None
        weight = 0
        if self._weights:
            fn = self._weights.get((method, path))
            weight = fn(request.query) if fn is not None else 0
        if method == "POST" and path.endswith("/order"):
            client_id = await self._client_id(request)
            self.orders_seen += 1
            self.order_arrived.set()
        self.log.append((t, method, path, client_id, weight))
        if client_id is not None:
            # The two simulators share a core; on machines of their own, as venues are, the
            # other would not wait for this one to handle its order before noting its own.
            os.sched_yield()
        return await handler(request)

    async def _client_id(self, request: web.Request) -> str | None:
        body = await request.text()  # cached: the venue's handler reads it again
        return order_client_id(body, request.raw_path.partition("?")[2])

    # -- prices ------------------------------------------------------------------------------

    def publish(self, price: Decimal) -> tuple[float, int]:
        t = time.monotonic()
        self.world.set_price(price)
        return t, self.update_id()

    async def _beat(self) -> None:
        while self._hz > 0:
            await asyncio.sleep(1 / self._hz)
            self.world.set_price(self.world.price)

    async def play(self, body: dict[str, Any]) -> dict[str, Any]:
        """Publish `mids[j]` at `start_at + j * interval` (monotonic). With `stop_on_order`,
        stop at the first order placement that arrives after the start, waiting up to `hold`
        seconds after the last mid for one. Returns when each mid was published, when its
        pushes were built (the simulator builds every symbol's before its writer sends the
        first), its `u`, and the order placements that arrived meanwhile."""
        mids = [Decimal(m) for m in body["mids"]]
        start_at, interval = float(body["start_at"]), float(body["interval"])
        stop_on_order = bool(body.get("stop_on_order", False))
        first = len(self.log)
        seen = self.orders_seen
        self.halted = False
        self.order_arrived.clear()
        t_pub: list[float] = []
        built: list[float] = []  # when the event's every push was queued: its first can leave
        us: list[int] = []
        for j, mid in enumerate(mids):
            delay = start_at + j * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.halted or (stop_on_order and self.orders_seen > seen):
                break
            t, u = self.publish(mid)
            t_pub.append(t)
            built.append(time.monotonic())
            us.append(u)
        if stop_on_order and self.orders_seen == seen and not self.halted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.order_arrived.wait(), float(body.get("hold", 2.0)))
        orders = [[e[0], e[3]] for e in self.log[first:] if e[3] is not None]
        return {"t_pub": t_pub, "built": built, "u": us, "orders": orders}

    # -- seeding -----------------------------------------------------------------------------

    def seed(self, account: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Place orders straight in the matching core (no wire, no limits): positions and
        resting orders that a restarted daemon must find again."""
        results = []
        for o in orders:
            request = OrderRequest(
                client_id=str(o["client_id"]),
                symbol=self.spec.symbol,
                side=Side(o["side"]),
                type=OrderType(o["type"]),
                qty=Decimal(o["qty"]),
                price=None if o.get("price") is None else Decimal(o["price"]),
                reduce_only=bool(o.get("reduce_only", False)),
            )
            try:
                order = self.exchange.place(account, request)
            except OrderRefused as e:
                results.append({"client_id": request.client_id, "error": str(e)})
                continue
            results.append(
                {
                    "client_id": order.client_id,
                    "order_id": order.order_id,
                    "status": order.status.value,
                    "filled": str(order.filled_qty),
                }
            )
        return results

    # -- control API -------------------------------------------------------------------------

    def _control_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ctl/ping", self._ping)
        app.router.add_post("/ctl/price", self._price)
        app.router.add_post("/ctl/heartbeat", self._heartbeat_rate)
        app.router.add_post("/ctl/play", self._play)
        app.router.add_post("/ctl/halt", self._halt)
        app.router.add_post("/ctl/seed", self._seed)
        app.router.add_get("/ctl/log", self._log)
        app.router.add_post("/ctl/shutdown", self._shutdown)
        return app

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({"price": str(self.world.price), "u": self.update_id()})

    async def _price(self, request: web.Request) -> web.Response:
        body = await request.json()
        t, u = self.publish(Decimal(str(body["price"])))
        return web.json_response({"t": t, "u": u})

    async def _heartbeat_rate(self, request: web.Request) -> web.Response:
        self._hz = float((await request.json())["hz"])
        if self._hz > 0 and (self._heartbeat is None or self._heartbeat.done()):
            self._heartbeat = asyncio.create_task(self._beat())
        return web.json_response({"hz": self._hz})

    async def _play(self, request: web.Request) -> web.Response:
        return web.json_response(await self.play(await request.json()))

    async def _halt(self, request: web.Request) -> web.Response:
        self.halted = True
        return web.json_response({})

    async def _seed(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"results": self.seed(body["account"], body["orders"])})

    async def _log(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response({"entries": self.log[since:], "next": len(self.log)})

    async def _shutdown(self, request: web.Request) -> web.Response:
        self._done.set()
        return web.json_response({})

    # -- life ----------------------------------------------------------------------------------

    async def run(self, conn: Connection) -> None:
        runners = []
        ports = []
        for app in (self.app, self._control_app()):
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            ports.append(runner.addresses[0][1])
        conn.send({"api": ports[0], "ctl": ports[1]})
        conn.close()
        try:
            await self._done.wait()
        finally:
            self._hz = 0
            for runner in reversed(runners):
                await runner.cleanup()
