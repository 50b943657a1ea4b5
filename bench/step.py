"""Scenario 1b: the decision path alone, in this process, hot and after a pause.

A round in MONITORING on the in-process simulator (no wire, no other process); the price
sits past the Aster short's stop. Each sample runs one pass of the engine and the step it
launches, up to the call that would commit the stop's intent: that call raises instead, so
nothing is committed and the next sample decides on the same round again.

Samples are taken back to back (the caches and the CPU's branch predictors trained on this
very path), after 20 ms asleep and after 20 ms of busy waiting (as a stop comes in a live
daemon: once per round, after the quiet between price events, the path cold). The gap
between the first figure and the other two is what running cold adds to the reaction's
`pass_to_decision` on this machine; the daemon's code is the same in all three.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.stats import summary
from hedged import config
from hedged.engine import Engine
from hedged.legs import VENUES
from hedged.sim.venue import SimVenue
from hedged.sim.world import World, default_world
from hedged.store import Store

START = Decimal(100)
PAST_THE_STOP = Decimal("101.5")  # the Aster short's stop is at +0.8 %
PAUSE = 0.02


class Decided(BaseException):
    """Raised where the stop's intent would be committed (not an Exception: the engine's
    step does not take it for a bug and halt the round)."""


async def run(out: Path, *, samples: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("hedged.db*"):
        f.unlink()
    world = default_world(seed=1, start_price=START, volatility=Decimal("0.5"))
    world.set_price(START)
    venues = {v: SimVenue(world, v, "bench", signature_window=0.2) for v in VENUES}
    overrides = {"strategy.cooldown_seconds": 0, "strategy.poll_interval_seconds": "3600"}
    store = Store(f"sqlite:///{out / 'hedged.db'}")
    engine = Engine(config.load(None, overrides=overrides), store, venues)
    engine.command_poll_seconds = 3600.0  # as in a daemon between two reads of commands
    await engine.start()
    try:
        round_id = await _monitoring(engine)
        decided: list[float] = []

        def commit_nothing(*_args: Any, **_kwargs: Any) -> Any:
            decided.append(time.perf_counter())
            raise Decided

        store.add_intents = commit_nothing  # type: ignore[method-assign]
        figures: dict[str, Any] = {"samples": samples, "pause_ms": PAUSE * 1000}
        for name, pause in (("hot", None), ("after_sleep", "sleep"), ("after_busy", "busy")):
            took = [await _decide(world, engine, round_id, decided, pause) for _ in range(samples)]
            figures[f"{name}_us"] = summary(took, 1e6)
        return figures
    finally:
        await engine.stop()
        store.close()


async def _monitoring(engine: Engine) -> int:
    for _ in range(500):
        await engine.tick()
        await engine.settled()
        for r in engine.store.active_rounds():
            if r.state == "MONITORING" and r.id is not None:
                return r.id
        await asyncio.sleep(0.01)
    raise TimeoutError("no round reached MONITORING")


async def _drain() -> None:
    for _ in range(20):  # the in-process streams deliver what the world published
        await asyncio.sleep(0)


async def _decide(
    world: World, engine: Engine, round_id: int, decided: list[float], pause: str | None
) -> float:
    """After `pause`, a price past the stop; then one pass and its step, from the pass's
    start to the stop's intent: seconds."""
    if pause == "sleep":
        await asyncio.sleep(PAUSE)
    elif pause == "busy":
        until = time.perf_counter() + PAUSE
        while time.perf_counter() < until:
            pass
    world.set_price(PAST_THE_STOP)
    await _drain()
    engine.schedule.wake(round_id)
    seen = len(decided)
    t0 = time.perf_counter()
    await engine.tick()
    with contextlib.suppress(Decided):  # where the stop's intent would be committed
        await engine.settled()
    if len(decided) == seen:
        raise RuntimeError("the pass decided no stop")
    return decided[-1] - t0
