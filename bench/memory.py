"""Scenario 7: memory over many rounds, as weeks of unattended trading run them.

One round at a time, each a whole paper-like lifecycle through the real engine, clients and
simulators: opened (both entries sent and filled), every other one stopped out (the price
moves past the Aster short's stop, the stop fills and the survivor rests its take-profit),
then closed as an operator would (`hedgectl close`: the take-profit cancelled, the legs
closed at market) until DONE. Commands are read on every pass here, not every 0.2 s, so
that rounds follow each other quickly; nothing else differs from the daemon's own loop.

After `checkpoints` rounds (100 and 2,000 in the full run) the engine's process reports its
RSS, Python's allocated blocks and the objects the garbage collector tracks (after a
collection; what start-up loaded is frozen out of its sight, as `Engine.run` does), and,
between the first and the last checkpoint, which object types grew: what a finished round
leaves behind, if anything.
"""

from __future__ import annotations

import _sqlite3
import ctypes
import gc
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.reaction import Cycle, finish
from bench.rig import START, Rig
from hedged.legs import ASTER

STOP_PRICE = START * 101 / 100  # past the Aster short's stop (+0.8 %)
TREND_EVERY = 50  # rounds between two RSS readings


def rss_bytes() -> int:
    """This process's resident set now (Linux: /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def sqlite_heap_bytes() -> int:
    """What the SQLite library holds (page caches, schemas, statements): its own count."""
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


def rss_by_kind() -> dict[str, float]:
    """Resident MB by mapping (Linux: /proc/self/smaps): the C heap (`[heap]`: what malloc
    holds), anonymous mappings (Python's object arenas, threads' heaps), files."""
    kinds: Counter[str] = Counter()
    kind = "files, stack"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if "-" in first and not first.endswith(":"):  # a mapping's header line
            fields = line.split()
            path = fields[5] if len(fields) > 5 else ""
            kind = "[heap]" if path == "[heap]" else "anonymous" if not path else "files, stack"
        elif first == "Rss:":
            kinds[kind] += int(line.split()[1])
    return {k: round(v / 1024, 2) for k, v in kinds.items()}


def heap() -> tuple[dict[str, Any], Counter[str]]:
    gc.collect()
    objects = gc.get_objects()
    by_type = Counter(type(o).__qualname__ for o in objects)
    figures = {
        "rss_mb": rss_bytes() / 2**20,
        "rss_mb_by_kind": rss_by_kind(),
        "sqlite_mb": sqlite_heap_bytes() / 2**20,
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_objects": len(objects),
    }
    return figures, by_type


async def run(
    out: Path, *, checkpoints: list[int], time_cap: float, timeout: float = 20.0
) -> dict[str, Any]:
    rig = await Rig.create(
        out,
        auth="v1",
        real_limits=False,
        unpaced=True,
        strategy={"max_concurrent_rounds": 1},
    )
    rig.engine.command_poll_seconds = 0.0
    cycle = Cycle(rig, timeout)
    marks: list[dict[str, Any]] = []
    types: dict[int, Counter[str]] = {}
    failures: list[str] = []
    trend: list[tuple[int, float]] = []  # (rounds, RSS MB)
    done = last = 0
    t0 = time.monotonic()
    try:
        await rig.sims.price(START)
        rig.run()
        await rig.until_passes(1, 60)
        while done < checkpoints[-1] and time.monotonic() - t0 < time_cap:
            try:
                last = await one_round(rig, cycle, last, stop=done % 2 == 0)
            except (TimeoutError, RuntimeError) as e:
                failures.append(f"round {done + 1}: {type(e).__name__}: {e}")
                if len(failures) > 5:
                    break
                continue
            done += 1
            rig.engine.stepped.clear()  # the benchmark's own per-round record
            if done % TREND_EVERY == 0:
                trend.append((done, round(rss_bytes() / 2**20, 2)))
            if done in checkpoints:
                figures, by_type = heap()
                marks.append({"rounds": done, "s": time.monotonic() - t0, **figures})
                types[done] = by_type
        if done and (not marks or marks[-1]["rounds"] != done):  # stopped by the time cap
            figures, by_type = heap()
            marks.append({"rounds": done, "s": time.monotonic() - t0, **figures})
            types[done] = by_type
    finally:
        await rig.close()
    result: dict[str, Any] = {
        "rounds": done,
        "seconds": time.monotonic() - t0,
        "checkpoints": marks,
        "rss_mb_trend": trend,
        "failures": failures,
        "notes": rig.notes,
    }
    if len(marks) >= 2:
        first, final = marks[0], marks[-1]
        rounds = final["rounds"] - first["rounds"]
        result["rss_growth_pct"] = 100 * (final["rss_mb"] / first["rss_mb"] - 1)
        result["rss_bytes_per_round"] = (final["rss_mb"] - first["rss_mb"]) * 2**20 / rounds
        result["blocks_per_round"] = (
            final["allocated_blocks"] - first["allocated_blocks"]
        ) / rounds
        grown = types[final["rounds"]] - types[first["rounds"]]
        result["objects_grown_by_type"] = dict(grown.most_common(12))
    return result


async def one_round(rig: Rig, cycle: Cycle, after: int, *, stop: bool) -> int:
    """Open a round, stop its Aster leg out if `stop`, close it; its id."""
    cycle.price = START
    round_id: int = await cycle.until(
        lambda: cycle.live_round("MONITORING", after), "a round in MONITORING"
    )
    if stop:
        cycle.price = STOP_PRICE
        await cycle.until(lambda: cycle.state(round_id) == "LIMIT_SET", f"{ASTER} stopped out")
    await finish(rig, cycle, round_id)
    return round_id
