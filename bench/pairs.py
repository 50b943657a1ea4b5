"""Scenario: one daemon, N pairs streaming.

The daemon trades N pairs (1, 5, 20: `pair_symbols`), every one quoted by both simulators on
the same price path, so each published mid is one bookTicker message per pair on each venue:
2 N WebSocket messages. The daemon is paused (no round opens): what is measured is what
following N pairs' prices costs — reading every pair's messages from one price stream per
venue, the price book, and the loop's pass on each event (which checks every pair's
opening conditions and staleness). `rate` mids per second are published for `seconds`:

- CPU share of one core of the daemon's process over the window;
- CPU per WebSocket message (flat in N is the goal: the cost of a message should not grow
  with the number of pairs the daemon follows);
- passes of the loop, and messages per pass.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.rig import Rig
from bench.scale import CpuSampler, walk
from hedged.legs import VENUES
from hedged.store import Store


async def run(out: Path, *, pairs: int, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    rig = await Rig.create(out, real_limits=False, pairs=pairs)
    result: dict[str, Any] = {"pairs": pairs, "rate": rate}
    try:
        paused = Store(f"sqlite:///{out / 'hedged.db'}")  # before the daemon leads: no fence
        paused.set_meta("paused", "1")
        paused.close()
        rig.run()
        await rig.until_passes(1, 600)
        await asyncio.sleep(1.0)
        result |= await measure(rig, pairs, rate, seconds, seed)
    finally:
        await rig.close()
    return result


async def measure(rig: Rig, pairs: int, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    engine = rig.engine
    n = int(rate * seconds)
    payload = {"mids": walk(n, seed), "start_at": time.monotonic() + 0.2, "interval": 1 / rate}
    passes_before = engine.passes
    with CpuSampler() as sampler:
        played = await rig.sims.both("play", payload)
        await asyncio.sleep(0.2)  # the last messages read
    passes = engine.passes - passes_before
    wall0 = min(played[v]["t_pub"][0] for v in VENUES)
    wall1 = max(played[v]["t_pub"][-1] for v in VENUES)
    cpu, wall = sampler.cpu_between(wall0, wall1)
    events = len(played[VENUES[0]]["t_pub"])
    messages = events * pairs * len(VENUES)
    return {
        "window_s": wall,
        "events": events,
        "messages": messages,
        "messages_per_s": messages / wall if wall else None,
        "cpu_s": cpu,
        "cpu_share_of_core": cpu / wall if wall else None,
        "cpu_us_per_message": 1e6 * cpu / messages if messages else None,
        "passes": passes,
        "messages_per_pass": messages / max(1, passes),
        # every pair's symbols reached the price book (the streams carry them all)
        "symbols_priced": len({(q.venue, q.symbol) for q in engine.prices.all()}),
    }
