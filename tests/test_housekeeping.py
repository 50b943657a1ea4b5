"""The daemon's housekeeping beside its trading: the WAL copied into the database file from
the slow timer, start-up's objects kept out of the garbage collector's full passes."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from contextlib import closing
from pathlib import Path

from roundkit import Rig

from hedged.engine import Engine


def rounds_in_database_file(path: Path) -> int:
    """Rounds in the database file itself, not counting what is only in its WAL."""
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM rounds").fetchone()[0])
        except sqlite3.OperationalError:  # not even the schema copied yet
            return 0


async def test_the_slow_timer_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    """The engine's commits leave the WAL to its timer (a checkpoint's fsyncs inside an
    intent's commit would delay that order); the timer copies it from a thread."""
    rig = Rig(tmp_path, mode="single")
    engine = await rig.start()
    try:
        with rig.store.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        engine._last_poll = float("inf")  # the slow timer waits
        await rig.tick()
        await rig.until("MONITORING")
        assert rounds_in_database_file(tmp_path / "hedged.db") == 0
        engine._last_poll = 0.0  # it is due
        await rig.tick()
        assert rounds_in_database_file(tmp_path / "hedged.db") == 1
    finally:
        await rig.stop()


async def test_a_running_daemon_keeps_start_up_objects_out_of_full_collections(
    tmp_path: Path,
) -> None:
    """A full collection would otherwise scan every module, class and client loaded at
    start-up again, stopping the loop for tens of ms; they stay out while it runs."""
    rig = Rig(tmp_path, mode="continuous")
    engine = Engine(rig.config, rig.store, rig.venues)
    frozen: list[int] = []
    real_tick = engine.tick

    async def tick() -> None:
        frozen.append(gc.get_freeze_count())
        if len(frozen) == 3:
            engine.stopping.set()
        await real_tick()

    engine.tick = tick  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(engine.run(), 20)
    finally:
        rig.store.close()
    assert min(frozen) > 10_000
    assert gc.get_freeze_count() == 0  # given back when the loop ends
