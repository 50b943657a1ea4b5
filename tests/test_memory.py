"""The daemon runs for weeks: a finished round leaves nothing behind in its memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from roundkit import Rig

from hedged import heap
from hedged.engine import Engine
from hedged.store import Store


def leftovers(engine: Engine, store: Store, round_id: int) -> dict[str, object]:
    """What the daemon still holds of a finished round (empty when nothing)."""
    live = store._live
    assert live is not None
    held: dict[str, object] = {
        "desk deadlines": dict(engine.desk._deadlines),
        "unresolved since": engine._unresolved_since.get(round_id),
        "trouble logged": engine._trouble_logged.get(round_id),
        "derived legs": engine._derived.get(round_id),
        "cached round": live.rounds.get(round_id),
        "cached orders": live.orders_of(round_id),
    }
    if engine.schedule.held(round_id):
        held["scheduled"] = round_id
    return {k: v for k, v in held.items() if v}


async def test_a_finished_round_leaves_nothing_behind(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single")
    try:
        engine = await rig.start()
        await rig.tick()
        await rig.until("MONITORING")
        await rig.move("100.9")  # the short's stop
        await rig.until("LIMIT_SET")
        await rig.move("101.5")  # the long's take-profit fills
        await rig.until("DONE")
        assert leftovers(engine, rig.store, 1) == {}
    finally:
        await rig.stop()


async def test_freed_memory_is_handed_back_once_after_a_round_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slow timer's pass trims the allocator's heap after a round ended, not before
    and not again until another ends (glibc keeps what a finished round freed otherwise)."""
    trims: list[bool] = []
    give_back = heap.give_back

    def counted() -> bool:
        trims.append(give_back())
        return trims[-1]

    monkeypatch.setattr(heap, "give_back", counted)
    rig = Rig(tmp_path, mode="single")
    try:
        await rig.start()
        await rig.tick()
        await rig.until("MONITORING")
        await asyncio.sleep(0.06)  # past poll_interval_seconds: the next pass is a timer pass
        await rig.tick()
        assert trims == []  # nothing finished yet
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
        await rig.move("101.5")
        await rig.until("DONE")
        for _ in range(3):
            await asyncio.sleep(0.06)
            await rig.tick()
        assert len(trims) == 1
    finally:
        await rig.stop()
