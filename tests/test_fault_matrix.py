"""Every fault class of the wire simulators at every order step of a round, through the real
venue clients over HTTP and WebSocket on 127.0.0.1: the round still ends flat, no client
order id reaches a venue twice, and the stored PnL equals the venues' own fills."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from invariants import check_invariants, wire_records
from roundkit import make_config

from hedged import orders
from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.backpack.signing import new_keypair
from hedged.adapters.base import Venue
from hedged.engine import Engine
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.secrets import AsterCredentials, BackpackCredentials, Secret
from hedged.sim.accounts import Accounts, AsterV1Key, BackpackKey
from hedged.sim.server import SimServers, WorldSpec, build_world
from hedged.store import Store, utcnow

D = Decimal
ACCOUNT = "matrix"
ORDER_PATH = {ASTER: "/fapi/v1/order", BACKPACK: "/api/v1/order"}


class HttpRig:
    """The engine on the real clients, the simulators in process with the price held still
    (it moves only when a test says so)."""

    def __init__(
        self, tmp_path: Path, window_ms: int = 1000, funding_hours: Decimal | None = None
    ) -> None:
        self.window_ms = window_ms
        self.v1_key, self.v1_secret = secrets.token_hex(16), secrets.token_hex(32)
        self.bp_secret, self.bp_public = new_keypair()
        accounts = Accounts(
            aster_v1={self.v1_key: AsterV1Key(self.v1_key, self.v1_secret, ACCOUNT)},
            backpack={self.bp_public: BackpackKey(self.bp_public, ACCOUNT)},
            balances={ACCOUNT: D(10_000)},
        )
        spec = WorldSpec(
            symbols={ASTER: "SOLUSDT", BACKPACK: "SOL_USDC_PERP"},
            start_price=D(100),
            basis_bps=D(0),
            funding=funding_hours is not None,
            funding_hours=funding_hours,
        )
        self.world = build_world(spec, accounts, None)
        self.servers = SimServers(self.world, accounts, tick_seconds=0)
        self.config = make_config(mode="single")
        self.store = Store(f"sqlite:///{tmp_path / 'hedged.db'}")
        self.engine: Engine | None = None

    async def start(self) -> None:
        await self.servers.start()
        self.engine = Engine(self.config, self.store, self.clients())
        await self.engine.start()

    def clients(self) -> dict[str, Venue]:
        """The real venue clients, pointed at the simulators (which must be serving)."""
        cfg = self.config
        aster_cfg = replace(
            cfg.aster,
            base_url=self.servers.url(ASTER),
            ws_url=self.servers.url(ASTER, "ws"),
            auth="v1",
            recv_window_ms=self.window_ms,
        )
        bp_cfg = replace(
            cfg.backpack,
            base_url=self.servers.url(BACKPACK),
            ws_url=self.servers.url(BACKPACK, "ws"),
            window_ms=self.window_ms,
        )
        return {
            ASTER: AsterVenue(
                aster_cfg,
                AsterCredentials(None, None, None, Secret(self.v1_key), Secret(self.v1_secret)),
                "SOLUSDT",
            ),
            BACKPACK: BackpackVenue(
                bp_cfg,
                BackpackCredentials(Secret(self.bp_public), Secret(self.bp_secret)),
                "SOL_USDC_PERP",
            ),
        }

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        await self.servers.stop()
        self.store.close()

    def arm(
        self,
        venue: str,
        kind: str,
        *,
        path: str | None = None,
        method: str = "POST",
        fraction: str = "0",
        seconds: float = 0.0,
    ) -> None:
        self.servers.faults[venue].arm(
            kind, path or ORDER_PATH[venue], method=method, seconds=seconds, fraction=fraction
        )

    async def tick(self) -> None:
        assert self.engine is not None
        await asyncio.sleep(0.02)  # let the WebSocket pushes arrive
        await self.engine.tick()
        await self.engine.settled()

    async def move(self, price: str) -> None:
        self.world.set_price(D(price))
        await self.tick()

    def state(self) -> str | None:
        r = self.store.get_round(1)
        return None if r is None else r.state

    async def until(self, *states: str, ticks: int = 300) -> str:
        for _ in range(ticks):
            state = self.state()
            if state in states:
                return state
            await self.tick()
        raise AssertionError(f"round stuck in {self.state()}, wanted {states}")

    async def disconnect_streams(self, venue: str) -> None:
        async with aiohttp.ClientSession() as s:
            await s.post(self.servers.url(venue) + "/_admin/ws/disconnect")

    async def check_invariants(self) -> None:
        for faults in self.servers.faults.values():
            await faults.held.settled()  # a late-delivered request counts once processed
        r = self.store.get_round(1)
        assert r is not None and r.state == "DONE", f"round is {r and r.state}: {r and r.reason}"
        records = await wire_records(self.servers, ACCOUNT, self.world.symbols)
        assert check_invariants(self.store, records).violations == []


@pytest.fixture(autouse=True)
def quick_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 0.2)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[HttpRig]:
    r = HttpRig(tmp_path)
    await r.start()
    yield r
    await r.stop()


# The order steps of a round and the venue each one goes to, on this price script:
# open at 100 (each leg's backstop placed); up 0.9 % stops the Aster short (its backstop is
# cancelled); the Backpack long then rests its take-profit; closing comes from the time limit
# (the take-profit is cancelled, the long sold at market, then its backstop cancelled).
# `backstop` places Aster's backstop again after someone cancelled it at the venue; the
# `reprice` steps run with a decaying take-profit: it is cancelled, then placed again lower.
STEPS = [
    "entry_aster",
    "entry_backpack",
    "backstop",
    "stop",
    "backstop_cancel",
    "take_profit",
    "reprice_cancel",
    "reprice_place",
    "close",
]
WIRE_FAULTS = [
    "accept_then_timeout",
    "error_5xx",
    "rate_limit",
    "drop",
    "reject",
    "partial",
    "latency",
    # Held 0.7 s, inside the 1 s signature window: the venue places it after all, by when a
    # round that took it for never placed would have moved on.
    "late",
]


async def run_round(rig: HttpRig, step: str, fault: str) -> None:
    """Drive the scripted round, arming `fault` on the order request of `step`."""

    def arm(venue: str, method: str = "POST") -> None:
        if fault == "ws_disconnect":
            return
        seconds = 0.7 if fault == "late" else 0.3
        rig.arm(venue, fault, method=method, fraction="0.5", seconds=seconds)

    async def streams_drop(venue: str) -> None:
        if fault == "ws_disconnect":
            await rig.disconnect_streams(venue)

    if step.startswith("entry"):
        venue = ASTER if step == "entry_aster" else BACKPACK
        arm(venue)
        await streams_drop(venue)
    await rig.tick()
    state = await rig.until("MONITORING", "DONE")
    if state == "DONE":  # an entry leg refused: the other was flattened
        return
    if step == "backstop":  # cancelled behind the daemon's back: it places another
        exchange, symbol = rig.world.venues[ASTER], rig.world.symbols[ASTER]
        (mine,) = exchange.open_orders(ACCOUNT, symbol)
        arm(ASTER)
        await streams_drop(ASTER)
        exchange.cancel(ACCOUNT, symbol, client_id=mine.client_id)
        state = await rig.until("MONITORING", "CLOSING", "DONE")
        for _ in range(5):  # the cancel is seen (stream or poll), the new one placed
            await rig.tick()
        if state != "MONITORING" or rig.state() != "MONITORING":  # refused: the round closed
            await rig.until("DONE")
            return
    if step == "stop":
        arm(ASTER)
        await streams_drop(ASTER)
    if step == "backstop_cancel":
        arm(ASTER, "DELETE")
        await streams_drop(ASTER)
    if step == "take_profit":
        arm(BACKPACK)
        await streams_drop(BACKPACK)
    await rig.move("100.9")
    state = await rig.until("LIMIT_SET", "CLOSING", "DONE")
    if state == "LIMIT_SET" and step.startswith("reprice"):
        await rig.move("100.2")  # back near the entry: the lower target still rests
        first = next(o for o in rig.store.orders_of(1) if o.purpose == "TAKE_PROFIT")
        rig.store.update_round(1, deadline_at=first.created_at + timedelta(seconds=3))
        arm(BACKPACK, "DELETE" if step == "reprice_cancel" else "POST")
        await streams_drop(BACKPACK)
        await asyncio.sleep(1.1)  # the take-profit has rested `reprice_seconds`
        await rig.tick()
        state = await rig.until("LIMIT_SET", "CLOSING", "DONE")
    if state == "LIMIT_SET":
        if step == "close":
            arm(BACKPACK)
            await streams_drop(BACKPACK)
        rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    await rig.until("DONE")


CASES = [(s, f) for s in STEPS for f in [*WIRE_FAULTS, "ws_disconnect"]]


@pytest.mark.parametrize(("step", "fault"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
async def test_fault_at_order_step(tmp_path: Path, step: str, fault: str) -> None:
    rig = HttpRig(tmp_path)
    if step.startswith("reprice"):
        rig.config = make_config(mode="single", take_profit_decay_to="0", reprice_seconds="1")
    await rig.start()
    try:
        await run_round(rig, step, fault)
        await rig.check_invariants()
        if step.startswith("reprice"):  # the re-price's request met the fault
            assert not rig.servers.faults[BACKPACK].armed
    finally:
        await rig.stop()


async def test_stale_feed_falls_back_to_rest_and_still_stops(rig: HttpRig) -> None:
    await rig.tick()
    await rig.until("MONITORING")
    for v in VENUES:
        rig.servers.faults[v].arm("stale", "*", times=None)
    assert rig.engine is not None
    rig.engine.prices.max_age = 0.5  # a polled quote stays usable for the next pass
    await asyncio.sleep(0.6)  # every streamed price is now too old to act on
    await rig.move("100.9")  # no push arrives; the engine polls the book over REST
    await rig.until("LIMIT_SET")
    for v in VENUES:
        rig.servers.faults[v].clear()
    rig.store.update_round(1, deadline_at=utcnow() - timedelta(seconds=1))
    await rig.until("DONE")
    await rig.check_invariants()
