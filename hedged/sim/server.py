"""Both venues' wire APIs on 127.0.0.1 over one World; exchange state kept in a file.

Used by `hedged sim` (standalone, e.g. for crash tests where the simulator must outlive the
daemon) and by paper mode (in process, on free ports).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from hedged.sim.accounts import Accounts
from hedged.sim.aster.app import aster_app
from hedged.sim.backpack.app import backpack_app
from hedged.sim.exchange import SimExchange
from hedged.sim.faults import WireFaults
from hedged.sim.funding import ASTER_FUNDING, BACKPACK_FUNDING, FundingPlan, FundingSchedule
from hedged.sim.pricepath import CsvPath, GbmPath, PricePath
from hedged.sim.world import FEE_PLACES, World, sol_market

log = logging.getLogger(__name__)

ASTER, BACKPACK = "aster", "backpack"


@dataclass(frozen=True)
class WorldSpec:
    symbols: Mapping[str, str | tuple[str, ...]]  # venue -> its symbol, or its symbols
    seed: int = 7
    start_price: Decimal = Decimal(150)
    volatility: Decimal = Decimal(12)
    basis_bps: Decimal = Decimal(3)
    spread_bps: Decimal = Decimal(2)
    price_csv: Path | None = None
    fees: Mapping[str, tuple[Decimal, Decimal]] | None = None  # venue -> (taker, maker)
    funding: bool = False  # settle funding on each venue's schedule
    funding_hours: Decimal | None = None  # every venue's interval instead of its own (tests)


def funding_plans(spec: WorldSpec) -> dict[str, FundingPlan]:
    """Each venue's funding plan, seeded from the world's seed, intervals as asked."""
    plans = {ASTER: ASTER_FUNDING, BACKPACK: BACKPACK_FUNDING}
    if not spec.funding:
        return {}
    return {
        venue: replace(
            plan,
            seed=spec.seed,
            interval_hours=spec.funding_hours or plan.interval_hours,
            intervals=None if spec.funding_hours else plan.intervals,
        )
        for venue, plan in plans.items()
        if venue in spec.symbols
    }


def build_world(
    spec: WorldSpec,
    accounts: Accounts,
    state_file: Path | None,
    clock: Callable[[], float] = time.time,
) -> World:
    """A new world, or the one saved in `state_file` (positions, orders, balances, price).
    `clock` is the exchanges' (fill times, funding settlements)."""
    saved: dict[str, Any] = {}
    if state_file is not None and state_file.exists():
        saved = json.loads(state_file.read_text())
        log.info("simulated venues restored from %s", state_file)
    fees = spec.fees or {
        ASTER: (Decimal("0.00035"), Decimal("0.0001")),
        BACKPACK: (Decimal("0.0005"), Decimal("0.0002")),
    }
    exchanges: dict[str, SimExchange] = {}
    for venue, listed in spec.symbols.items():
        taker, maker = fees[venue]
        markets = {
            symbol: sol_market(
                symbol, taker_fee=taker, maker_fee=maker, fee_places=FEE_PLACES[venue]
            )
            for symbol in ((listed,) if isinstance(listed, str) else listed)
        }
        if venue in saved:
            exchanges[venue] = SimExchange.from_dict(saved[venue], clock)
            for symbol, market in markets.items():  # a pair added since it was saved
                exchanges[venue].markets.setdefault(symbol, market)
            continue
        exchanges[venue] = SimExchange(venue, markets, clock)
        for account, balance in accounts.balances.items():
            exchanges[venue].deposit(account, balance)
    pairs = pair_count(spec.symbols)
    replay = CsvPath(spec.price_csv) if spec.price_csv else None
    paths: list[PricePath] = (
        [replay]  # one replay, every pair on it
        if replay is not None
        else [
            GbmPath(start, spec.volatility, pair_seed(spec.seed, i))
            for i, start in enumerate(saved_prices(saved, pairs) or [spec.start_price] * pairs)
        ]
    )
    source = replay.funding_rate if replay is not None else None
    funding = {
        venue: FundingSchedule(plan, exchanges[venue].now, source)
        for venue, plan in funding_plans(spec).items()
    }
    world = World(paths, exchanges, spec.symbols, spec.basis_bps, spec.spread_bps, funding)
    if state_file is not None:
        for exchange in exchanges.values():
            exchange.add_listener(lambda order, fill: save_world(world, state_file))
    return world


def pair_count(symbols: Mapping[str, str | tuple[str, ...]]) -> int:
    """How many pairs the venues' symbols make: the i-th of each venue's is pair i (1 when
    the venues list different numbers: they then share one path)."""
    counts = {1 if isinstance(s, str) else len(s) for s in symbols.values()}
    return counts.pop() if len(counts) == 1 else 1


def pair_seed(seed: int, pair: int) -> int:
    """Pair `pair`'s price path seed: the main pair's is `seed` itself (one pair moves as
    it always did), every further pair's is drawn from it."""
    if pair == 0:
        return seed
    digest = hashlib.sha256(f"{seed}/{pair}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def saved_prices(saved: Mapping[str, Any], pairs: int) -> list[Decimal]:
    """Each pair's price as saved; a state from fewer pairs (or before paths per pair) starts
    the others at the main pair's. Empty for a new world."""
    if "price" not in saved:
        return []
    prices = [Decimal(p) for p in saved.get("prices", [saved["price"]])][:pairs]
    return prices + [prices[0]] * (pairs - len(prices))


def save_world(world: World, state_file: Path) -> None:
    data = {v: ex.to_dict() for v, ex in world.venues.items()} | {
        "price": str(world.price),
        "prices": [str(path.price) for path in world.paths],
    }
    tmp = state_file.with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(data))
    os.replace(tmp, state_file)  # atomic: a kill leaves the old state or the new, never half


class SimServers:
    def __init__(
        self,
        world: World,
        accounts: Accounts,
        *,
        aster_port: int = 0,
        backpack_port: int = 0,
        tick_seconds: float = 0.2,
        state_file: Path | None = None,
    ) -> None:
        self.world = world
        self.accounts = accounts
        self.faults = {ASTER: WireFaults(), BACKPACK: WireFaults()}
        self.ports = {ASTER: aster_port, BACKPACK: backpack_port}
        self.tick_seconds = tick_seconds
        self.state_file = state_file
        self._runners: list[web.AppRunner] = []
        self._ticker: asyncio.Task[None] | None = None

    def url(self, venue: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.ports[venue]}"

    async def start(self) -> None:
        apps = {
            ASTER: aster_app(self.world, ASTER, self.accounts, self.faults[ASTER]),
            BACKPACK: backpack_app(self.world, BACKPACK, self.accounts, self.faults[BACKPACK]),
        }
        for venue, app in apps.items():
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", self.ports[venue])
            await site.start()
            self._runners.append(runner)
            self.ports[venue] = runner.addresses[0][1]
        if self.tick_seconds > 0:
            self._ticker = asyncio.create_task(self.world.run(self.tick_seconds))

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for faults in self.faults.values():
            faults.held.cancel()
        for runner in self._runners:
            await runner.cleanup()
        if self.state_file is not None:
            save_world(self.world, self.state_file)
