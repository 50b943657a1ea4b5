"""The daemon keeps running and watching: a bug in one round's step, a venue blip during a
catch-up, a clock jump or a signal must neither stop it nor leave rounds unwatched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from roundkit import ASTER, BACKPACK, D, Rig
from test_fault_matrix import HttpRig

from hedged import crashpoints, orders
from hedged import engine as engine_mod
from hedged.adapters.base import Outcome
from hedged.alerts import Alerts, Webhook
from hedged.engine import EX_BLOCKED, Engine
from hedged.model import OrderRequest, OrderType, Quote, Side
from hedged.observe import NullObserver
from hedged.orders import Unresolved
from hedged.reconcile import Report
from hedged.sim.venue import SimVenue
from hedged.states.context import RoundContext
from hedged.store import AMBIGUOUS, NEVER_PLACED, OrderRow, utcnow


def raise_bug() -> None:
    raise RuntimeError("injected bug")


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    yield
    crashpoints.disarm()


@pytest.fixture(autouse=True)
def quick_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 0.05)


class Reconciliations(NullObserver):
    def __init__(self, reports: list[Report]) -> None:
        self.reports = reports

    def reconciled(self, report: Report) -> None:
        self.reports.append(report)


class BuggyPlace(SimVenue):
    """A client whose `place` raises a programming error, before sending, the first time."""

    bugs = 1

    async def place(self, order: OrderRequest) -> Outcome:
        if self.bugs:
            self.bugs -= 1
            raise TypeError("unsupported operand type(s) for +: 'Decimal' and 'NoneType'")
        return await super().place(order)


async def test_a_bug_in_one_round_halts_it_alone_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # No backstops: the second intent commit is then round 2's entries, not round 1's stops.
    rig = Rig(tmp_path, mode="continuous", max_concurrent_rounds=2, max_rounds=2, backstop_stop="0")
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


async def test_a_bug_in_place_is_loud_resolved_by_client_id_and_halts_the_round(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 1.0)  # the look-up outlasts the window
    rig = Rig(tmp_path, mode="single")
    rig.venues[ASTER] = BuggyPlace(rig.world, ASTER, "test", signature_window=0.2)
    await rig.start()
    try:
        await rig.until("HALTED")
        r = rig.round()
        assert r.reason is not None and r.reason.startswith("internal error: TypeError:")
        entries = {o.venue: o for o in rig.store.orders_of(1) if o.purpose == "ENTRY"}
        # never sent twice; looked up by client id and, its window over, never placed
        assert entries[ASTER].status == NEVER_PLACED
        assert (entries[ASTER].reject_message or "").startswith("bug: TypeError")
        assert rig.venues[ASTER].submissions[entries[ASTER].client_id or ""] == 0
        assert entries[BACKPACK].status == "FILLED"  # the operator sees it in the halted round
        bug_logs = [
            rec
            for rec in caplog.records
            if rec.name == "hedged.orders" and rec.levelno == logging.ERROR
        ]
        assert len(bug_logs) == 1 and bug_logs[0].exc_info is not None
        assert "placing raised TypeError (a bug)" in bug_logs[0].getMessage()
    finally:
        await rig.stop()


async def test_a_wall_clock_step_does_not_end_a_signature_window_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, mode="single")
    engine = await rig.start()
    try:
        r = rig.store.create_round(rig.world.symbols[ASTER], rig.world.symbols[BACKPACK])
        assert r.id is not None
        intent = OrderRow(
            round_id=r.id,
            venue=ASTER,
            symbol=rig.world.symbols[ASTER],
            purpose="ENTRY",
            side="SELL",
            type="MARKET",
            qty=D("0.1"),
        )
        (row,) = rig.store.add_intents([intent], {v: rig.venues[v].client_id for v in rig.venues})
        rig.store.record_order(row.id or 0, "order_ambiguous", status=AMBIGUOUS)
        row = rig.store.get_order(row.id or 0)
        with pytest.raises(Unresolved):  # not found, inside its window: unresolved
            await engine.desk.resolve(row)
        wall = time.time()
        monkeypatch.setattr(time, "time", lambda: wall + 2 * 86400)  # NTP steps 2 days on
        with pytest.raises(Unresolved):  # still inside its window on the monotonic clock
            await engine.desk.resolve(row)
        assert rig.store.get_order(row.id or 0).status == AMBIGUOUS
        # the request was only late: it lands now, and the order is found, not sent again
        request = OrderRequest(
            row.client_id or "", row.symbol, Side.SELL, OrderType.MARKET, row.qty
        )
        await rig.venues[ASTER].place(request)
        found = await engine.desk.resolve(row)
        assert found.status == "FILLED"
    finally:
        await rig.stop()


async def test_a_failing_catch_up_is_retried_and_the_daemon_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_mod, "CATCH_UP_FIRST_RETRY", 0.05)
    rig = HttpRig(tmp_path)
    await rig.start()
    try:
        engine = rig.engine
        assert engine is not None
        reports: list[Report] = []
        engine.observer = Reconciliations(reports)
        await rig.tick()
        await rig.until("MONITORING")
        # The reads reconciliation uses answer 503 (the Aster client's retries included)...
        rig.servers.faults[ASTER].arm("error_5xx", "/fapi/v1/openOrders", method="GET", times=None)
        rig.servers.faults[ASTER].arm(
            "error_5xx", "/fapi/v2/positionRisk", method="GET", times=None
        )
        await rig.disconnect_streams(ASTER)  # ...when a reconnect asks for a catch-up
        async with asyncio.timeout(20):
            while "catch-up reconciliation failed" not in caplog.text:
                await rig.tick()
        assert engine._why_not_open() == "catching up with the venues after a stream reconnect"
        # Still deciding on what it knows: the Aster short is stopped out meanwhile.
        await rig.move("100.9")
        assert await rig.until("LIMIT_SET") == "LIMIT_SET"
        rig.servers.faults[ASTER].clear()  # the venue answers again
        async with asyncio.timeout(20):
            while engine._reconcile_due:
                await rig.tick()
        assert engine.blocked is None
        await rig.move("101.5")  # the Backpack long's take-profit fills
        await rig.until("DONE")
        await rig.check_invariants()
        assert reports and reports[-1].clean  # the catch-up, once the venue answered
    finally:
        await rig.stop()


async def test_single_mode_on_a_blocked_pair_says_why_and_exits_3(tmp_path: Path) -> None:
    rig = Rig(tmp_path, mode="single")
    foreign = OrderRequest("manual-1", rig.world.symbols[ASTER], Side.SELL, OrderType.MARKET, D(1))
    rig.world.venues[ASTER].place("test", foreign)  # a position no round of ours explains
    engine = Engine(rig.config, rig.store, rig.venues)
    try:
        async with asyncio.timeout(30):  # it used to wait here forever
            code = await engine.run()
    finally:
        rig.store.close()
    assert code == EX_BLOCKED == 3
    assert engine.blocked is not None and "aster SOLUSDT position -1" in engine.blocked
    assert rig.store.count_rounds() == 0


async def test_an_end_time_in_the_future_counts_as_now_and_status_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, mode="single", cooldown_seconds=1)
    # A round ended while the wall clock ran two days ahead (then it was stepped back).
    old = rig.store.create_round(rig.world.symbols[ASTER], rig.world.symbols[BACKPACK])
    future = utcnow() + timedelta(days=2)
    rig.store.update_round(old.id or 0, state="DONE", ended_at=future)
    engine = await rig.start()
    try:
        assert "in the future by this clock: counting it as now" in caplog.text
        await rig.tick()
        why = engine._why_not_open()
        assert why is not None and why.startswith("cooling down until")
        assert rig.store.get_meta("not_opening") == why  # what hedgectl status shows
        shown = subprocess.run(
            [sys.executable, "-m", "hedged.ctl", "status", "--db", rig.url],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=os.environ | {"COLUMNS": "200"},
        ).stdout
        assert f"no new round: {why}" in shown
        for _ in range(200):  # the cooldown ends after cooldown_seconds, not in two days
            await rig.tick()
            if rig.store.count_rounds() == 2:
                break
            await asyncio.sleep(0.02)
        assert rig.store.count_rounds() == 2
        await rig.tick()
        assert rig.store.get_meta("not_opening") == "single mode: one round only"
    finally:
        await rig.stop()


def test_sighup_stops_the_paper_daemon_cleanly(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env |= {"STATE_DIRECTORY": str(tmp_path), "NOTIFY_SOCKET": notify_path}
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hedged.cli", "run", "--paper"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            notify.settimeout(60)
            messages = [notify.recv(4096).decode()]  # READY=1: signal handlers are in place
            assert messages[0].startswith("READY=1")
            proc.send_signal(signal.SIGHUP)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        log_text = err.read()
    notify.settimeout(0.1)
    with contextlib.suppress(TimeoutError):
        while True:
            messages.append(notify.recv(4096).decode())
    notify.close()
    assert code == 0, log_text[-3000:]
    assert "SIGHUP: stopping: no new rounds" in log_text
    assert "STOPPING=1" in messages


class BuggyStream(SimVenue):
    """A client whose price stream raises a programming error once."""

    bugs = 1
    subscribed = 0

    async def quotes(self, *symbols: str) -> AsyncGenerator[Quote, None]:
        self.subscribed += 1
        if self.bugs:
            self.bugs -= 1
            raise KeyError("bidPrice")
        async for q in super().quotes(*symbols):
            yield q


async def test_a_bug_in_a_stream_is_logged_and_the_stream_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(tmp_path, mode="single")
    rig.venues[ASTER] = BuggyStream(rig.world, ASTER, "test", signature_window=0.2)
    engine = await rig.start()
    try:
        async with asyncio.timeout(10):
            while "aster price stream failed" not in caplog.text:
                await asyncio.sleep(0.01)
        assert not any(t.done() for t in engine._streams)  # none of them ended
        stream = rig.venues[ASTER]
        assert isinstance(stream, BuggyStream)
        async with asyncio.timeout(10):  # subscribed again after the pause
            while stream.subscribed < 2:
                await asyncio.sleep(0.05)
        assert any(
            r.exc_info is not None and "price stream failed" in r.getMessage()
            for r in caplog.records
        )
    finally:
        await rig.stop()


def test_a_stored_time_in_the_future_does_not_stretch_a_wait() -> None:
    """The retry pause after a refusal and the entry's patience are measured from stored
    wall-clock times: after the clock stepped back they count as past, not as hours ahead."""
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    ctx = SimpleNamespace(now=now)
    assert RoundContext.since(ctx, now - timedelta(seconds=3)) == timedelta(seconds=3)  # type: ignore[arg-type]
    assert RoundContext.since(ctx, now + timedelta(days=2)) == timedelta.max  # type: ignore[arg-type]
    assert RoundContext.since(ctx, now + timedelta(milliseconds=5)) == timedelta(0)  # type: ignore[arg-type]


async def test_no_round_opens_while_a_venue_s_request_budget_is_crowded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What open rounds need to end (fills, stops, closes) keeps its room in the venue's
    request budget: past the share for new work no round opens, and status says why."""
    rig = Rig(tmp_path)
    crowded = True
    monkeypatch.setattr(rig.venues[ASTER], "crowded", lambda: crowded)
    await rig.start()
    try:
        await rig.tick(3)
        assert rig.store.count_rounds() == 0
        why = "aster: request budget spent past the share kept for open rounds"
        assert rig.store.get_meta("not_opening") == why
        crowded = False  # the venue's next minute
        await rig.tick()
        assert rig.store.count_rounds() == 1
    finally:
        await rig.stop()
