"""WATCHDOG=1 comes from the loop itself: a loop that hangs stops sending it, so systemd
restarts the daemon (and the restart recovers every open round)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roundkit import Rig

from hedged.engine import Engine


async def test_a_hung_loop_stops_sending_watchdog(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="continuous")
    sent: list[dict[str, str]] = []
    engine = Engine(rig.config, rig.store, rig.venues, notify=lambda **f: sent.append(f))
    engine.watchdog_seconds = 0.0  # one on every pass, to count them
    hang = asyncio.Event()
    real_tick = engine.tick
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 5:
            await hang.wait()  # the loop is stuck here, as on a deadlock
        await real_tick()

    engine.tick = tick  # type: ignore[method-assign]
    task = asyncio.create_task(engine.run())
    try:
        for _ in range(100):
            if ticks >= 5:
                break
            await asyncio.sleep(0.05)
        watchdogs = [f for f in sent if f.get("WATCHDOG") == "1"]
        assert sent[0]["READY"] == "1" and len(watchdogs) == 4
        await asyncio.sleep(0.5)  # ten poll intervals: a healthy loop would have sent more
        assert [f for f in sent if f.get("WATCHDOG") == "1"] == watchdogs
    finally:
        engine.stopping.set()
        hang.set()
        await asyncio.wait_for(task, 10)
        rig.store.close()


async def test_watchdog_and_status_line_are_not_built_on_every_pass(tmp_path: Path) -> None:
    """A price event costs a pass, not a STATUS line and a datagram: WATCHDOG=1 goes out at
    most every `watchdog_seconds` (30 s of systemd's WatchdogSec leave room for 1 s)."""
    rig = Rig(tmp_path, mode="continuous")
    sent: list[dict[str, str]] = []
    engine = Engine(rig.config, rig.store, rig.venues, notify=lambda **f: sent.append(f))
    engine.watchdog_seconds = 3600.0
    real_tick = engine.tick
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 20:
            engine.stopping.set()  # wakes the loop by itself: no price needed
        engine.prices.changed.set()  # as a price event would: the next pass at once
        await real_tick()

    engine.tick = tick  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(engine.run(), 20)
    finally:
        rig.store.close()
    assert ticks >= 20
    assert len([f for f in sent if f.get("WATCHDOG") == "1"]) == 1
