"""The daemon keeps running and watching: a bug in one round's step, a venue blip during a
catch-up, a clock jump or a signal must neither stop it nor leave rounds unwatched."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from roundkit import Rig

from hedged import crashpoints
from hedged.alerts import Alerts, Webhook


def raise_bug() -> None:
    raise RuntimeError("injected bug")


@pytest.fixture(autouse=True)
def disarmed() -> AsyncIterator[None]:
    yield
    crashpoints.disarm()


async def test_a_bug_in_one_round_halts_it_alone_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, mode="continuous", max_concurrent_rounds=2, max_rounds=2)
    webhook = Webhook("http://127.0.0.1:9/never-delivered")  # not started: alerts stay queued
    await rig.start()
    assert rig.engine is not None
    rig.engine.observer = Alerts(webhook, rig.config, rig.store)
    # Round 1 commits its entry intents first; the second round's commit raises.
    crashpoints.arm("after_intent_commit", 2, raise_bug)
    try:
        await rig.until("MONITORING", round_id=1)
        await rig.until("HALTED", round_id=2)
        halted = rig.round(2)
        assert halted.reason == "internal error: RuntimeError: injected bug"
        assert halted.halted_from == "OPENING"
        (logged,) = [
            r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info is not None
        ]
        assert "round 2: step failed" in logged.getMessage()
        alerts = [webhook.queue.get_nowait() for _ in range(webhook.queue.qsize())]
        assert [(a["event"], a["round"]) for a in alerts] == [("round_halted", 2)]
        assert "injected bug" in alerts[0]["reason"]
        # The daemon goes on: round 1 is still watched and still stops out and finishes.
        await rig.move("100.9")
        await rig.until("LIMIT_SET", round_id=1)
        rig.store.update_round(1, deadline_at=rig.round(1).opened_at)
        await rig.until("DONE", round_id=1)
        assert rig.state(2) == "HALTED"
    finally:
        await rig.stop()
