"""The loop's wake-up costs nothing per price event: no task or timer per pass."""

from __future__ import annotations

import asyncio
from pathlib import Path

from roundkit import Rig

from hedged.engine import Engine
from hedged.wake import Alarm, WakingEvent


async def test_an_alarm_keeps_one_timer_however_often_it_is_reset() -> None:
    rang: list[float] = []
    loop = asyncio.get_running_loop()
    alarm = Alarm(lambda: rang.append(loop.time()), 0.05)
    alarm.reset()
    handle = alarm._handle
    for _ in range(100):
        alarm.reset()
        assert alarm._handle is handle  # a reset moves the due time, not the timer
    due = alarm._due
    while not rang:
        await asyncio.sleep(0.01)
    assert rang[0] >= due - 0.001  # rang when due (after the last reset), not before
    assert len(rang) == 1 and alarm._handle is None
    alarm.reset()
    alarm.cancel()
    await asyncio.sleep(0.1)
    assert len(rang) == 1


async def test_a_waking_event_wakes_whoever_sleeps_on_the_other() -> None:
    changed = asyncio.Event()
    stopping = WakingEvent(changed.set)
    stopping.set()
    assert stopping.is_set() and changed.is_set()


async def test_the_loop_sleeps_without_a_task_of_its_own(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="continuous")
    engine = Engine(rig.config, rig.store, rig.venues)
    try:
        engine.prices.changed.set()
        await engine._wait()  # work already waiting: no sleep at all
        engine.prices.changed.clear()
        before = asyncio.all_tasks()
        waiting = asyncio.create_task(engine._wait())
        await asyncio.sleep(0)
        assert asyncio.all_tasks() - before == {waiting}  # no helper tasks per pass
        engine.prices.changed.set()
        await asyncio.wait_for(waiting, 5)
        engine.prices.changed.clear()
        await asyncio.wait_for(engine._wait(), 5)  # the idle alarm, after poll_interval
    finally:
        engine._idle.cancel()
        rig.store.close()
