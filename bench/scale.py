"""Scenario 3: many open rounds, a steady stream of price events.

N rounds are written into the store as open (MONITORING, both entries filled), all on the
engine's pair (SOLUSDT / SOL_USDC_PERP), whose positions the venues hold; every event is
published on that pair, on both venues at once, at `rate` events per second, within a band
that triggers no stop: every event concerns every round. (Until 2026-12-07 the rounds were
spread over 20 pairs of which the engine traded one; a daemon now sees a round on a pair it
does not trade to its end, reading that pair's rules and polling its prices, which the
simulators, listing one pair, refused: the scenario failed from then on.) Measured over
the window, in the engine's process:

- CPU: process CPU seconds over wall seconds (share of one core) and per offered event;
- event-to-decision latency: from a venue publishing a price to the end of the first pass
  of the engine loop that began with that price (or a newer one) in its price book: every
  round that price concerns has then been decided on it;
- passes: how many, how long (the 5-second timer pass steps only rounds with time-based work).

The floor, in the same run before the engine starts: a bare aiohttp WebSocket client (not
ours) subscribed to both simulators' bookTicker streams reads the same path's messages and
`json.loads` each one, nothing else; its CPU per event is what reading and parsing cost on
this machine, the least any daemon that follows these streams in Python can spend.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench.rig import SYMBOLS, BenchEngine, Rig, SeedRound, Tick, restart, seeded_rig
from bench.stats import pct, summary
from hedged.legs import ASTER, BACKPACK, VENUES

BAND_TICKS = 30  # the walk stays within 100 +/- 0.30 (the stops are 0.8 % away)


def walk(n: int, seed: int) -> list[str]:
    """A price path that moves one tick (0.01) per event, within the band."""
    rng = random.Random(seed)
    x, mids = 0, []
    for _ in range(n):
        step = rng.choice((-1, 1))
        if abs(x + step) > BAND_TICKS:
            step = -step
        x += step
        mids.append(str(Decimal(100) + Decimal(x) / 100))
    return mids


async def run(
    out: Path,
    *,
    rounds: int,
    rate: float,
    seconds: float,
    seed: int,
    profile: Path | None = None,
    profile_seconds: float = 5.0,
) -> dict[str, Any]:
    plan = [SeedRound("MONITORING") for _ in range(rounds)]
    rig, seeded_in = await seeded_rig(out, plan, strategy={"max_concurrent_rounds": max(rounds, 1)})
    result: dict[str, Any] = {"rounds": rounds, "rate": rate, "seed_s": seeded_in}
    try:
        result["floor"] = await read_floor(rig, rate, seconds, seed)
        t_start = restart(rig)
        rig.run()
        await rig.until_passes(1, 600)
        result["start_to_first_pass_s"] = time.monotonic() - t_start
        await rig.until_stepped(rounds, 600)  # steady state: every round stepped once
        result["start_to_all_stepped_s"] = time.monotonic() - t_start
        result["start_to_ready_s"] = (rig.ready_at or t_start) - t_start
        await asyncio.sleep(1.0)
        result |= await measure(rig, rate, seconds, seed)
        if profile is not None:
            await profiled(profile, measure(rig, rate, profile_seconds, seed + 1))
    finally:
        await rig.close()
    result["notes"] = rig.notes
    return result


async def profiled(path: Path, work: Awaitable[object]) -> None:
    """Run `work` under pyinstrument (1-ms samples) and write where its time went to `path`."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()
    await work
    profiler.stop()
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))


class CpuSampler:
    """(monotonic, process CPU) every `period` s from a thread: the readings stay on time
    even while the engine's loop (which this benchmark shares) is busy for seconds."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), time.process_time()))
            self._stop.wait(self.period)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_between(self, t0: float, t1: float) -> tuple[float, float]:
        """(CPU seconds, wall seconds) between the samples nearest t0 and t1."""
        a = min(self.samples, key=lambda s: abs(s[0] - t0))
        b = min(self.samples, key=lambda s: abs(s[0] - t1))
        return b[1] - a[1], b[0] - a[0]


async def read_floor(rig: Rig, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """CPU per event of a bare WebSocket read + JSON parse of the same messages."""
    async with aiohttp.ClientSession() as session:
        aster = await session.ws_connect(
            f"{rig.sims.url(ASTER, 'ws')}/ws/{SYMBOLS[ASTER].lower()}@bookTicker"
        )
        backpack = await session.ws_connect(rig.sims.url(BACKPACK, "ws"))
        subscribe = {"method": "SUBSCRIBE", "params": [f"bookTicker.{SYMBOLS[BACKPACK]}"]}
        await backpack.send_str(json.dumps(subscribe))
        read = [0, 0]

        async def reader(i: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    json.loads(message.data)
                    read[i] += 1

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate((aster, backpack))]
        n = int(rate * seconds)
        payload = {"mids": walk(n, seed), "start_at": time.monotonic() + 0.2, "interval": 1 / rate}
        with CpuSampler() as sampler:
            played = await rig.sims.both("play", payload)
            await asyncio.sleep(0.2)  # the last messages read
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await aster.close()
        await backpack.close()
    wall0 = min(played[v]["t_pub"][0] for v in VENUES)
    wall1 = max(played[v]["t_pub"][-1] for v in VENUES)
    cpu, wall = sampler.cpu_between(wall0, wall1)
    events = len(played[VENUES[0]]["t_pub"])
    return {
        "what": "bare aiohttp WebSocket read + json.loads of the same messages",
        "events": events,
        "messages_read": sum(read),
        "cpu_s": cpu,
        "cpu_ms_per_event": 1000 * cpu / events if events else None,
        "window_s": wall,
    }


def decision_latencies(
    ticks: list[Tick], t_pub: list[float], in_book: Callable[[Tick, int], bool]
) -> tuple[list[float], int]:
    """For each event j (published at `t_pub[j]`, in time order): from its publication to the
    end of the first pass that began after it with the event in the price book
    (`in_book(tick, j)`), and how many events no recorded pass saw. `ticks` in time order."""
    latencies, undecided, i = [], 0, 0
    for j, published in enumerate(t_pub):
        while i < len(ticks) and (ticks[i].start < published or not in_book(ticks[i], j)):
            i += 1
        if i == len(ticks):
            undecided += 1
            continue
        latencies.append(ticks[i].end - published)
    return latencies, undecided


async def settle(engine: BenchEngine, decided: Callable[[Tick], bool], seconds: float) -> None:
    """Until a recorded pass has decided on the last events (`decided`), at most `seconds`."""
    until = time.monotonic() + seconds
    while time.monotonic() < until and not any(decided(t) for t in engine.ticks):
        await asyncio.sleep(0.05)


async def measure(
    rig: Any, rate: float, seconds: float, seed: int, settle_s: float = 90.0
) -> dict[str, Any]:
    engine = rig.engine
    n = int(rate * seconds)
    mids = walk(n, seed)
    start_at = time.monotonic() + 0.2
    payload = {"mids": mids, "start_at": start_at, "interval": 1 / rate}
    engine.ticks.clear()
    engine.record_ticks = True
    with CpuSampler() as sampler:
        played = dict(
            zip(
                VENUES,
                await asyncio.gather(*(rig.sims.call(v, "play", payload) for v in VENUES)),
                strict=True,
            )
        )
        # let the last events be decided (bounded), then stop recording
        last_u = {v: played[v]["u"][-1] for v in VENUES}

        def seen_last(t: Tick) -> bool:
            return all(t.seen.get(v, -1) >= last_u[v] for v in VENUES)

        await settle(engine, seen_last, settle_s)
    engine.record_ticks = False
    wall0 = min(played[v]["t_pub"][0] for v in VENUES)
    wall1 = max(played[v]["t_pub"][-1] for v in VENUES)
    cpu, wall = sampler.cpu_between(wall0, wall1)
    ticks = sorted(engine.ticks, key=lambda t: t.start)
    latencies, undecided = [], 0
    for v in VENUES:
        us = played[v]["u"]

        def in_book(t: Tick, j: int, v: str = v, us: list[int] = us) -> bool:
            return bool(t.seen.get(v, -1) >= us[j])

        found, missed = decision_latencies(ticks, played[v]["t_pub"], in_book)
        latencies += found
        undecided += missed
    in_window = [t for t in ticks if wall0 <= t.start <= wall1]
    durations = [t.end - t.start for t in in_window]
    overlapping = [t.end - t.start for t in ticks if t.start <= wall1 and t.end >= wall0]
    events = len(played[VENUES[0]]["t_pub"])
    return {
        "window_s": wall,
        "events": events,
        "events_per_s": events / wall if wall else None,
        "cpu_s": cpu,
        "cpu_share_of_core": cpu / wall if wall else None,
        "cpu_ms_per_event": 1000 * cpu / events if events else None,
        "passes": len(in_window),
        "pass_ms": summary(durations, 1000),
        "pass_longest_ms": 1000 * max(overlapping, default=0.0),
        "events_per_pass": 2 * events / max(1, len(in_window)),
        "decision_latency_ms": summary(latencies, 1000),
        "decision_latency_p99_ms": 1000 * pct(latencies, 99) if latencies else None,
        "undecided_events": undecided,
    }
