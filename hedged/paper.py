"""Paper mode: both venues simulated in process on one seeded price path, no keys needed.

The simulated exchanges' state is saved next to the paper database after every order
event, so a restarted paper daemon finds its positions and resting orders again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from hedged.config import Config
from hedged.legs import ASTER, BACKPACK
from hedged.sim.exchange import SimExchange
from hedged.sim.pricepath import CsvPath, GbmPath, PricePath
from hedged.sim.venue import SimVenue
from hedged.sim.world import World, sol_market

log = logging.getLogger(__name__)

ACCOUNT = "paper"
STARTING_BALANCE = Decimal(10_000)


class PaperVenues:
    def __init__(self, cfg: Config, state_file: Path | None = None) -> None:
        p = cfg.paper
        self.tick_seconds = float(p.tick_seconds)
        self.state_file = state_file or cfg.daemon.state_dir / "paper-venues.json"
        symbols = {ASTER: cfg.pair.aster_symbol, BACKPACK: cfg.pair.backpack_symbol}
        saved = self._load()
        exchanges = {}
        for venue, fees in ((ASTER, cfg.aster), (BACKPACK, cfg.backpack)):
            if venue in saved:
                exchanges[venue] = SimExchange.from_dict(saved[venue])
            else:
                market = sol_market(
                    symbols[venue], taker_fee=fees.taker_fee, maker_fee=fees.maker_fee
                )
                exchanges[venue] = SimExchange(venue, {symbols[venue]: market})
                exchanges[venue].deposit(ACCOUNT, STARTING_BALANCE)
            exchanges[venue].add_listener(lambda order, fill: self.save())
        path: PricePath = (
            CsvPath(p.price_csv)
            if p.price_csv
            else GbmPath(Decimal(saved.get("price", p.start_price)), p.volatility, p.seed)
        )
        self.world = World(path, exchanges, symbols, p.basis_bps, p.spread_bps)
        self.by_name = {v: SimVenue(self.world, v, ACCOUNT) for v in (ASTER, BACKPACK)}
        self._task: asyncio.Task[None] | None = None

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        log.info("paper venues restored from %s", self.state_file)
        return data

    def save(self) -> None:
        data = {v: ex.to_dict() for v, ex in self.world.venues.items()} | {
            "price": str(self.world.price)
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_file)

    async def __aenter__(self) -> PaperVenues:
        self._task = asyncio.create_task(self.world.run(self.tick_seconds))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.save()
