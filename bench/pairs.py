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
- passes of the loop, and messages per pass;
- the simulators' CPU share (do the venues keep up with the rate?);
- decision latency (`bench.scale.decision_latencies`): per venue and event, from its
  publication to the end of the first pass that began with every pair's quote of that
  event in the price book.

`stop_reaction`: the stop reaction of `bench.reaction` with N pairs streaming, rounds
opening on one pair only."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import machine, reaction
from bench.rig import Rig, Tick
from bench.scale import CpuSampler, decision_latencies, profiled, settle, walk
from bench.stats import pct, summary
from hedged.legs import VENUES
from hedged.store import Store


async def run(
    out: Path,
    *,
    pairs: int,
    rate: float,
    seconds: float,
    seed: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    """With `profile`, a further 5 s of streaming under the profiler (where the time goes)."""
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
        if profile is not None:
            await profiled(profile, measure(rig, pairs, rate, 5.0, seed + 1))
            result["profile"] = str(profile)
    finally:
        await rig.close()
    return result


async def measure(rig: Rig, pairs: int, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    engine = rig.engine
    n = int(rate * seconds)
    payload = {"mids": walk(n, seed), "start_at": time.monotonic() + 0.2, "interval": 1 / rate}
    passes_before = engine.passes
    before = {v: int(ping["u"]) for v, ping in (await rig.sims.both("ping")).items()}
    engine.ticks.clear()
    engine.record_ticks = True
    sims_before = sims_cpu(rig)
    with CpuSampler() as sampler:
        played = await rig.sims.both("play", payload)
        sims_used = {v: cpu - sims_before[v] for v, cpu in sims_cpu(rig).items()}
        # the last event in every pair's quotes (bounded), then stop recording
        last = {v: played[v]["u"][-2] if n > 1 else before[v] for v in VENUES}
        await settle(engine, lambda t: all(oldest(t, v) > last[v] for v in VENUES), 10.0)
    engine.record_ticks = False
    passes = engine.passes - passes_before
    wall0 = min(played[v]["t_pub"][0] for v in VENUES)
    wall1 = max(played[v]["t_pub"][-1] for v in VENUES)
    cpu, wall = sampler.cpu_between(wall0, wall1)
    events = len(played[VENUES[0]]["t_pub"])
    messages = events * pairs * len(VENUES)
    latencies, undecided = event_decisions(engine.ticks, played, before)
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
        # the simulators (on one core of their own with two cores): are the venues keeping up?
        "simulators_cpu_share_of_core": {v: used / wall for v, used in sims_used.items()}
        if wall
        else None,
        "decision_latency_ms": summary(latencies, 1000),
        "decision_latency_p99_ms": 1000 * pct(latencies, 99) if latencies else None,
        "undecided_events": undecided,
        # every pair's symbols reached the price book (the streams carry them all)
        "symbols_priced": len({(q.venue, q.symbol) for q in engine.prices.all()}),
    }


async def stop_reaction(out: Path, *, pairs: int, **kwargs: Any) -> dict[str, Any]:
    """The stop reaction (`bench.reaction`, Aster V3) with `pairs` pairs streaming: one
    pair's round at a time crosses its stop while every pair's prices keep coming, one event
    every `dt` on each. Beside it, the daemon's own share: the reaction minus the same run's
    floor (a bare durable commit and signed order POST), at p50 and p99."""
    figures = await reaction.run(out, auth="v3", pairs=pairs, **kwargs)
    took, floor = figures["reaction_ms"], figures["reaction_floor_ms"]
    own = {q: took[q] - floor[q] if q in took and q in floor else None for q in ("p50", "p99")}
    return {"pairs": pairs, "reaction_own_share_ms": own, **figures}


def sims_cpu(rig: Rig) -> dict[str, float]:
    """CPU seconds each simulator's process has used so far."""
    procs = rig.sims.procs
    return {v: machine.process_cpu_seconds(procs[v].pid or 0) for v in VENUES}


def oldest(tick: Tick, venue: str) -> int:
    """The update id of the venue's least recent symbol's quote when the pass began."""
    return tick.oldest.get(venue, tick.seen.get(venue, -1))


def event_decisions(
    ticks: list[Tick], played: dict[str, Any], before: dict[str, int]
) -> tuple[list[float], int]:
    """Per venue and event: publication -> the end of the first pass that began with every
    pair's quote of that event (or a newer one) in the price book. An event on a venue is
    its messages of every pair, whose update ids follow the previous event's (`before`:
    the ids before the first): each symbol's quote newer than the previous event's."""
    ordered = sorted(ticks, key=lambda t: t.start)
    latencies, undecided = [], 0
    for v in VENUES:
        previous = [before[v], *played[v]["u"][:-1]]

        def in_book(t: Tick, j: int, v: str = v, p: list[int] = previous) -> bool:
            return bool(oldest(t, v) > p[j])

        found, missed = decision_latencies(ordered, played[v]["t_pub"], in_book)
        latencies += found
        undecided += missed
    return latencies, undecided
