"""Scenario 8: how rounds end (maker or taker exits) with and without the adaptive take-profit.

Three configurations trade the same rounds on the same seeded price paths: the defaults (the
take-profit rests at entry x (1 +/- take_profit) until it fills), `take_profit_decay_to`,
and `take_profit_decay_to` with `exit_as_maker_seconds`. Each runs the real engine, clients
and simulators (`bench.rig`, Aster V1 keys, the venues' real rate limits and the clients'
own pacing, backstops on), the simulators charging the configuration's fees as paper mode
does, one round at a time.

Round i plays, in every configuration, the same path: the simulators' own GBM
(`hedged.sim.pricepath.GbmPath`, seeded with the run's seed and i) from the entry price 100,
one price every `dt` seconds on both venues (spread 2 bp), until the round is DONE. Rounds are
short (`max_round_seconds` 15) with the volatility scaled to keep the thresholds where a
real round meets them: at an annual volatility of 12 the price moves 0.83 % (one standard
deviation) in 15 s, as SOL's (about 0.8 a year) does in the hour of the default round. The
re-pricing cadence is compressed with it: `reprice_seconds` 1, the slow timer (which steps a
round whose take-profit adapts) every 0.5 s. Between rounds the bench holds the engine
paused (`hedgectl pause`), sets the price back to 100 and resumes: each round opens at 100.

How each round ended is read from the store's orders and fills (`hedged.endings`), its fees
and volume with `hedged.costs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.reaction import Cycle, finish
from bench.rig import START, Rig
from hedged.costs import TEN_THOUSAND, costs_of, total
from hedged.endings import MAKER_ENDINGS, Ending, RoundEnd, ending_of
from hedged.legs import VENUES
from hedged.model import ZERO
from hedged.sim.pricepath import GbmPath
from hedged.store import FillRow, OrderRow, RoundRow

log = logging.getLogger("bench.exits")

ROUND_SECONDS = 15
DECAY_TO = "0.004"  # the take-profit target moves from 1.2 % to 0.4 % over the round
MAKER_SECONDS = 4  # the last 4 s of 15: a post-only exit at the touch
COMMON: dict[str, object] = {
    "max_round_seconds": ROUND_SECONDS,
    "reprice_seconds": "1",
    "poll_interval_seconds": "0.5",
    "max_concurrent_rounds": 1,
}
CONFIGS: dict[str, dict[str, object]] = {
    "defaults": {},
    "decay": {"take_profit_decay_to": DECAY_TO},
    "decay+maker": {"take_profit_decay_to": DECAY_TO, "exit_as_maker_seconds": MAKER_SECONDS},
}
PATH_TAIL = 10.0  # seconds of path beyond the time limit (closing), then the price holds
DONE_STATES = ("DONE", "HALTED")
NO_SURVIVOR = frozenset({Ending.TIME_LIMIT_BOTH, Ending.OTHER_CLOSE, Ending.OPEN})  # none stopped


def mids(seed: int, i: int, *, sigma: float, dt: float) -> list[str]:
    """Round i's path: one mid per `dt` seconds from START, the same in every configuration."""
    path = GbmPath(START, Decimal(str(sigma)), seed * 100_003 + i)
    steps = int((ROUND_SECONDS + PATH_TAIL) / dt)
    return [str(START)] + [str(path.advance(dt)) for _ in range(steps)]


async def run(
    out: Path, *, rounds: int, sigma: float, dt: float, seed: int, time_cap: float
) -> dict[str, Any]:
    """The three configurations side by side (each its own engine and simulators), `rounds`
    rounds each or until `time_cap` seconds."""
    runs = await asyncio.gather(
        *(
            one_config(
                out / name,
                {**COMMON, **options},
                rounds=rounds,
                sigma=sigma,
                dt=dt,
                seed=seed,
                time_cap=time_cap,
            )
            for name, options in CONFIGS.items()
        )
    )
    by_name = dict(zip(CONFIGS, runs, strict=True))
    base = by_name["defaults"]["endings"]
    for figures in by_name.values():
        figures["changed_from_defaults"] = changed(base, figures["endings"])
    return {
        "rounds_wanted": rounds,
        "sigma": sigma,
        "dt": dt,
        "seed": seed,
        "strategy": COMMON,
        "configs": {name: {"options": CONFIGS[name], **by_name[name]} for name in CONFIGS},
    }


async def one_config(
    out: Path,
    strategy: Mapping[str, object],
    *,
    rounds: int,
    sigma: float,
    dt: float,
    seed: int,
    time_cap: float,
) -> dict[str, Any]:
    rig = await Rig.create(out, auth="v1", strategy=strategy, config_fees=True)
    rig.engine.command_poll_seconds = 0.0  # pause and resume between rounds at once
    cycle = Cycle(rig, timeout=30.0)
    played: list[tuple[int, int]] = []  # (path index, round id)
    failures: list[str] = []
    t0 = time.monotonic()
    try:
        await rig.sims.price(START)
        rig.run()
        await rig.until_passes(1, 60)
        last = 0
        for i in range(rounds):
            if time.monotonic() - t0 > time_cap:
                break
            try:
                last = await one_round(rig, cycle, last, mids(seed, i, sigma=sigma, dt=dt), dt)
                played.append((i, last))
            except (TimeoutError, RuntimeError) as e:
                failures.append(f"round {i}: {type(e).__name__}: {e}")
                with contextlib.suppress(TimeoutError):
                    last = max(last, await _close_open(rig, cycle))
                if len(failures) > 5:
                    break
        rows = [_stored(rig, r) for _, r in played]
    finally:
        await rig.close()
    figures = summarize(rows)
    figures["endings"] = {
        str(i): ending for (i, _), ending in zip(played, figures["endings"], strict=True)
    }
    figures["seconds"] = time.monotonic() - t0
    figures["failures"] = failures
    figures["notes"] = rig.notes
    return figures


async def one_round(rig: Rig, cycle: Cycle, after: int, path: Sequence[str], dt: float) -> int:
    """Open a round at START (the engine resumed), play `path` until it is DONE; its id."""
    cycle.price = START
    if after:
        rig.store.add_command("resume")
    round_id: int = await cycle.until(
        lambda: cycle.live_round("MONITORING", after), "a round in MONITORING"
    )
    rig.store.add_command("pause")  # the next round opens once the bench has reset the price
    start_at = time.monotonic() + 0.02
    body = {"mids": list(path), "start_at": start_at, "interval": dt}
    play = asyncio.gather(*(rig.sims.call(v, "play", body) for v in VENUES))
    try:
        deadline = start_at + ROUND_SECONDS + PATH_TAIL + 20
        while cycle.state(round_id) not in DONE_STATES:
            rig._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"round {round_id} not done ({cycle.state(round_id)})")
            await asyncio.sleep(0.05)
    finally:
        await rig.sims.both("halt")
        await play
    if cycle.state(round_id) == "HALTED":
        raise RuntimeError(f"round {round_id} halted: {rig.store.get_round(round_id)}")
    return round_id


async def _close_open(rig: Rig, cycle: Cycle) -> int:
    """After a failed round: close whatever is open (as an operator would); the newest id."""
    newest = 0
    for r in rig.store.active_rounds():
        if r.id is not None:
            newest = max(newest, r.id)
            await finish(rig, cycle, r.id)
    return newest


def _stored(rig: Rig, round_id: int) -> tuple[RoundRow, list[OrderRow], list[FillRow]]:
    r = rig.store.get_round(round_id)
    assert r is not None
    return r, rig.store.orders_of(round_id), rig.store.fills_of(round_id)


def summarize(rows: Sequence[tuple[RoundRow, list[OrderRow], list[FillRow]]]) -> dict[str, Any]:
    """Per configuration: how the rounds ended, the maker share, fees per 10,000 USDT of
    volume, and round durations."""
    ends: list[RoundEnd] = [ending_of(r, orders, fills) for r, orders, fills in rows]
    counts = Counter(e.ending.value for e in ends)
    costs = total(
        costs_of(orders, fills, r.realized_pnl or ZERO, ZERO) for r, orders, fills in rows
    )
    volume = costs.total_volume
    exit_volume = sum((e.exit_volume for e in ends), ZERO)
    maker_exit_volume = sum((e.maker_exit_volume for e in ends), ZERO)
    survived = [e for e in ends if e.ending not in NO_SURVIVOR]
    durations = [
        (r.ended_at - r.opened_at).total_seconds()
        for r, _, _ in rows
        if r.ended_at is not None and r.opened_at is not None
    ]
    n = len(ends)
    maker = sum(e.ending in MAKER_ENDINGS for e in ends)
    return {
        "rounds": n,
        "endings": [e.ending.value for e in ends],
        "ended": {k.value: counts[k.value] for k in Ending if counts.get(k.value)},
        "maker_endings": maker,
        "maker_share_of_rounds": _share(maker, n),
        "rounds_with_a_survivor": len(survived),
        "maker_share_of_survivors": _share(
            sum(e.ending in MAKER_ENDINGS for e in survived), len(survived)
        ),
        "maker_share_of_exit_volume": _share(maker_exit_volume, exit_volume),
        "volume": str(volume),
        "fees": str(costs.fees),
        "maker_fees": str(costs.maker_fees),
        "taker_fees": str(costs.taker_fees),
        "fees_per_10k": _per_10k(costs.fees, volume),
        "realized_pnl": str(costs.realized_pnl),
        "cost_per_10k": None if costs.cost_per_10k is None else str(costs.cost_per_10k),
        "round_seconds_median": statistics.median(durations) if durations else None,
        "round_seconds_by_ending": {
            k: statistics.median(d)
            for k, d in _by_ending(ends, [r for r, _, _ in rows]).items()
            if d
        },
    }


def _share(part: Decimal | int, whole: Decimal | int) -> float | None:
    return float(part) / float(whole) if whole else None


def _per_10k(fees: Decimal, volume: Decimal) -> str | None:
    return str((fees * TEN_THOUSAND / volume).quantize(Decimal("0.0001"))) if volume else None


def _by_ending(ends: Sequence[RoundEnd], rounds: Sequence[RoundRow]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for e, r in zip(ends, rounds, strict=True):
        if r.ended_at is not None and r.opened_at is not None:
            seconds = (r.ended_at - r.opened_at).total_seconds()
            out.setdefault(e.ending.value, []).append(seconds)
    return out


def changed(base: Mapping[str, str], other: Mapping[str, str]) -> dict[str, int]:
    """Rounds (same path index) that ended differently from the defaults:
    "defaults ending -> this ending": count."""
    pairs = Counter(f"{base[i]} -> {e}" for i, e in other.items() if i in base and base[i] != e)
    return dict(pairs.most_common())
