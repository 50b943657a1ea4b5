"""Scenario 5: REST use in steady state with 10 open rounds.

Ten rounds are open in LIMIT_SET (a resting take-profit each, five per venue: the state that
keeps polling; a MONITORING round makes no REST call at all), prices stream at `rate` events
per second, and every request that reaches each venue in the window is counted, by endpoint,
with Aster's request weight (the simulator's weight table, the venue's published one).
Budgets: Aster 2400 weight per minute (per IP); Backpack 2000 requests per minute (per
subaccount, docs/venues/backpack.md#rate-limits). Real client pacing, real venue limits.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench.rig import SeedRound, request_counts, restart, seeded_rig
from bench.scale import walk
from hedged.legs import ASTER, BACKPACK, VENUES

ASTER_WEIGHT_PER_MIN = 2400
BACKPACK_REQUESTS_PER_MIN = 2000


async def run(
    out: Path, *, rounds: int, rate: float, seconds: float, warmup: float, seed: int
) -> dict[str, Any]:
    plan = [
        SeedRound("LIMIT_SET", survivor=ASTER if i % 2 == 0 else BACKPACK) for i in range(rounds)
    ]
    rig, _ = await seeded_rig(out, plan, strategy={"max_concurrent_rounds": rounds})
    result: dict[str, Any] = {"rounds": rounds, "states": {"LIMIT_SET": rounds}, "rate": rate}
    try:
        restart(rig)
        rig.run()
        await rig.until_passes(1, 120)
        n = int(rate * (warmup + seconds + 1))
        start_at = time.monotonic() + 0.1
        payload = {"mids": walk(n, seed), "start_at": start_at, "interval": 1 / rate}
        plays = [asyncio.ensure_future(rig.sims.call(v, "play", payload)) for v in VENUES]
        await asyncio.sleep(start_at + warmup - time.monotonic())
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        t1 = time.monotonic()
        for v in VENUES:
            await rig.sims.call(v, "halt")
        await asyncio.gather(*plays)
        per_min = 60 / (t1 - t0)
        venues: dict[str, Any] = {}
        for v in VENUES:
            entries, _ = await rig.sims.log(v)
            counts, total, weight = request_counts(entries, t0, t1)
            row: dict[str, Any] = {
                "requests": total,
                "requests_per_min": total * per_min,
                "by_endpoint_per_min": {k: c * per_min for k, c in sorted(counts.items())},
            }
            if v == ASTER:
                row["weight_per_min"] = weight * per_min
                row["budget"] = f"{ASTER_WEIGHT_PER_MIN} weight/min"
                row["budget_used_pct"] = 100 * weight * per_min / ASTER_WEIGHT_PER_MIN
            else:
                row["budget"] = f"{BACKPACK_REQUESTS_PER_MIN} requests/min"
                row["budget_used_pct"] = 100 * total * per_min / BACKPACK_REQUESTS_PER_MIN
            venues[v] = row
        result["window_s"] = t1 - t0
        result["venues"] = venues
    finally:
        await rig.close()
    result["notes"] = rig.notes
    return result
