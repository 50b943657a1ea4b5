"""A hedge round on the in-process simulator: a real store file, the real engine, and the
invariants every scenario must end with."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from invariants import VenueRecords, check_between_passes

from hedged import config
from hedged.engine import Engine
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.sim.server import SimServers
from hedged.sim.venue import SimVenue
from hedged.sim.world import World, default_world
from hedged.store import RoundRow, Store

D = Decimal
START = D(100)


def on_simulators(cfg: config.Config, servers: SimServers) -> config.Config:
    """`cfg` with both venues' clients pointed at the wire simulators (Aster signing V1)."""
    return replace(
        cfg,
        aster=replace(
            cfg.aster,
            base_url=servers.url(ASTER),
            ws_url=servers.url(ASTER, "ws"),
            auth="v1",
        ),
        backpack=replace(
            cfg.backpack, base_url=servers.url(BACKPACK), ws_url=servers.url(BACKPACK, "ws")
        ),
    )


def make_config(**strategy: Any) -> config.Config:
    overrides = {
        "strategy.max_price_age_seconds": "60",
        "strategy.cooldown_seconds": 0,
        "strategy.poll_interval_seconds": "0.05",
    }
    overrides |= {f"strategy.{k}": v for k, v in strategy.items()}
    return config.load(None, overrides=overrides)


class Rig:
    """World + two simulated venues + a store file; engines come and go like processes."""

    def __init__(self, tmp_path: Path, world: World | None = None, **strategy: Any) -> None:
        self.world = world or default_world(
            seed=1, start_price=START, volatility=D("0.5"), spread_bps=D(2)
        )
        self.world.set_price(START)
        self.venues = {v: SimVenue(self.world, v, "test", signature_window=0.2) for v in VENUES}
        self.config = make_config(**strategy)
        self.url = f"sqlite:///{tmp_path / 'hedged.db'}"
        self.store = Store(self.url)
        self.engine: Engine | None = None

    async def start(self) -> Engine:
        """A fresh engine on the same store and venues, as after a process restart."""
        if self.engine is not None:
            await self.engine.stop()
        self.store = Store(self.url)
        self.engine = Engine(self.config, self.store, self.venues)
        self.engine.command_poll_seconds = 0.0  # a test's command is read on the next pass
        await self.engine.start()
        await settle()
        return self.engine

    async def tick(self, n: int = 1) -> None:
        assert self.engine is not None
        for _ in range(n):
            await settle()
            await self.engine.tick()
            await self.engine.settled()

    async def move(self, price: Decimal | str | int) -> None:
        self.world.set_price(D(price))
        await self.tick()

    def round(self, round_id: int = 1) -> RoundRow:
        r = self.store.get_round(round_id)
        assert r is not None
        return r

    def state(self, round_id: int = 1) -> str | None:
        r = self.store.get_round(round_id)
        return None if r is None else r.state

    async def until(self, state: str, round_id: int = 1, ticks: int = 50) -> RoundRow:
        for _ in range(ticks):
            if self.state(round_id) == state:
                break
            await self.tick()
            await asyncio.sleep(0.01)
        assert self.state(round_id) == state, f"round {round_id} is {self.state(round_id)}"
        return self.round(round_id)

    async def position(self, venue: str) -> Decimal:
        symbol = self.world.symbols[venue]
        return (await self.venues[venue].position(symbol)).qty

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        self.store.close()

    async def check_invariants(self) -> None:
        """Nothing duplicated, lost or left unprotected; PnL exact from the venues' fills."""
        records = VenueRecords(
            account=self.venues[ASTER].account,
            symbols=self.world.symbols,
            states={v: self.world.venues[v].to_dict() for v in VENUES},
            submissions={v: self.venues[v].submissions for v in VENUES},
        )
        assert check_between_passes(self.store, records).violations == []


async def settle() -> None:
    """Let the price streams deliver what the world just published."""
    for _ in range(5):
        await asyncio.sleep(0)


__all__ = ["ASTER", "BACKPACK", "START", "D", "Rig", "make_config", "settle"]
