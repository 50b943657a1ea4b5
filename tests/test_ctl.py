"""`hedgectl` against a store the real engine wrote on the simulator: every read command with
the daemon down, every steering command with and without a daemon to acknowledge it, and the
exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from roundkit import BACKPACK, Rig
from sqlalchemy.exc import SQLAlchemyError

from hedged import ctl
from hedged.states.context import Move
from hedged.states.machine import Trigger
from hedged.store import Store

STATUS_KEYS = {
    "funding",
    "id",
    "pair",
    "state",
    "legs",
    "hedge_pnl",
    "realized_pnl",
    "fees",
    "spread_bps",
    "age_seconds",
    "reason",
    "created_at",
    "ended_at",
    "entry_price",
    "price",
    "change_pct",
    "gap",
}
LEG_KEYS = {
    "venue",
    "symbol",
    "side",
    "qty",
    "entered",
    "entry",
    "price",
    "pnl_pct",
    "state",
    "backstop",
    "backstop_state",
    "funding",
}
# The scenario every test starts from.
TP_ROUND, REJECTED_ROUND, HALTED_ROUND, OPEN_ROUND = 1, 2, 3, 4


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_ctl(*argv: str) -> Result:
    """`hedgectl ARGV` in this process (any thread), its output captured."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ctl.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


async def build(rig: Rig) -> None:
    """Round 1 DONE (stop-loss, then take-profit), round 2 DONE (a leg rejected at open),
    round 3 HALTED, round 4 open in MONITORING."""
    await rig.start()
    await rig.tick()
    await rig.until("MONITORING", TP_ROUND)
    await rig.move("100.9")
    await rig.until("LIMIT_SET", TP_ROUND)
    rig.store.set_meta("paused", "1")  # the next round waits until its fault is armed
    await rig.move("101.5")
    await rig.until("DONE", TP_ROUND)
    rig.venues[BACKPACK].faults.arm("place", "reject")
    rig.store.set_meta("paused", "0")
    await rig.until("DONE", REJECTED_ROUND)
    await rig.until("MONITORING", HALTED_ROUND)
    assert rig.engine is not None
    rig.engine.apply(rig.round(HALTED_ROUND), Move(Trigger.HALT, "test: unexplained exposure"))
    await rig.until("MONITORING", OPEN_ROUND)
    rig.store.set_meta("paused", "1")  # keep the scenario as it is from here on
    await rig.tick()
    assert rig.store.count_rounds() == 4


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's database, written once by the engine, which then stops (daemon down)."""
    path = tmp_path_factory.mktemp("built")
    rig = Rig(path, mode="continuous", max_concurrent_rounds=1)

    async def go() -> None:
        try:
            await build(rig)
        finally:
            await rig.stop()

    asyncio.run(go())
    return path / "hedged.db"


@pytest.fixture
def db(built: Path, tmp_path: Path) -> str:
    """A private copy of the scenario's database (daemon down), as a --db URL."""
    copy = tmp_path / "copy.db"
    with sqlite3.connect(built) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return f"sqlite:///{copy}"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The scenario with its engine still there, to play the daemon."""
    r = Rig(tmp_path, mode="continuous", max_concurrent_rounds=1)
    await build(r)
    yield r
    await r.stop()


@pytest.fixture
def store_of(tmp_path: Path) -> Iterator[Any]:
    opened: list[Store] = []

    def open_(url: str) -> Store:
        opened.append(Store(url))
        return opened[-1]

    yield open_
    for s in opened:
        s.close()


async def with_daemon(rig: Rig, *argv: str) -> Result:
    """Run hedgectl in a thread; once it has queued its command, the engine loops as the
    daemon would (so hedgectl's own checks see the store as it was)."""
    stop = threading.Event()
    queued = len(rig.store.pending_commands())

    async def daemon() -> None:
        while not stop.is_set() and len(rig.store.pending_commands()) <= queued:
            await asyncio.sleep(0.02)
        while not stop.is_set():
            await rig.tick()
            await asyncio.sleep(0.02)

    task = asyncio.create_task(daemon())
    try:
        return await asyncio.to_thread(run_ctl, *argv, "--db", rig.url)
    finally:
        stop.set()
        await task


# -- read commands, daemon down -------------------------------------------------------------


def test_status_json_keeps_its_shape_and_table_shows_every_round(db: str) -> None:
    rounds = run_ctl("status", "--json", "--db", db).json()["rounds"]
    assert [r["id"] for r in rounds] == [HALTED_ROUND, OPEN_ROUND, REJECTED_ROUND, TP_ROUND]
    for r in rounds:
        assert set(r) == STATUS_KEYS
        assert [leg["venue"] for leg in r["legs"]] == ["aster", "backpack"]
        assert all(set(leg) == LEG_KEYS for leg in r["legs"])
    by_id = {r["id"]: r for r in rounds}
    assert by_id[TP_ROUND]["state"] == "DONE"
    store = Store(db, readonly=True)  # a closed leg shows its exit price, not the market's
    try:
        exits = [o for o in store.orders_of(TP_ROUND) if o.purpose != "ENTRY" and o.filled_qty]
    finally:
        store.close()
    for leg in by_id[TP_ROUND]["legs"]:
        (out,) = [o for o in exits if o.venue == leg["venue"]]
        assert out.avg_price is not None and Decimal(leg["price"]) == out.avg_price
        entry, sign = Decimal(leg["entry"]), 1 if leg["side"] == "BUY" else -1
        assert Decimal(leg["pnl_pct"]) == (out.avg_price - entry) / entry * sign * 100
    assert by_id[TP_ROUND]["hedge_pnl"] == by_id[TP_ROUND]["realized_pnl"]
    assert by_id[HALTED_ROUND]["reason"] == "test: unexplained exposure"
    assert by_id[OPEN_ROUND]["state"] == "MONITORING" and by_id[OPEN_ROUND]["hedge_pnl"]
    # each open leg's backstop: 2 % beyond its entry, resting; the finished round's cancelled
    for leg in by_id[OPEN_ROUND]["legs"]:
        entry, sign = Decimal(leg["entry"]), 1 if leg["side"] == "BUY" else -1
        assert leg["backstop_state"] == "resting"
        assert abs(Decimal(leg["backstop"]) - entry * (1 - Decimal("0.02") * sign)) < Decimal(
            "0.01"
        )
    assert {leg["backstop_state"] for leg in by_id[TP_ROUND]["legs"]} == {"cancelled"}

    table = run_ctl("status", "--db", db)
    assert table.code == 0 and table.err == ""
    for needle in ("aster short", "backpack long", "MONITORING", "DONE", "HEDGE PNL", "resting"):
        assert needle in table.out
    assert "new rounds: paused" in table.out
    assert "\x1b[" not in table.out  # no colour codes when not on a terminal
    assert (
        run_ctl("status", "--json", "--recent", "0", "--db", db).json()["rounds"][-1]["id"]
        == OPEN_ROUND
    )


def test_show_gives_the_timeline_legs_and_orders(db: str) -> None:
    r = run_ctl("show", str(TP_ROUND), "--json", "--db", db).json()
    assert set(r) >= STATUS_KEYS
    assert {"qty", "halted_from", "opened_at", "deadline_at", "volume"} <= set(r)
    assert [(o["purpose"], o["venue"], o["status"]) for o in r["orders"]] == [
        ("ENTRY", "aster", "FILLED"),
        ("ENTRY", "backpack", "FILLED"),
        ("BACKSTOP", "aster", "CANCELED"),  # cancelled once its leg was stopped out
        ("BACKSTOP", "backpack", "CANCELED"),  # cancelled once the take-profit filled
        ("STOP", "aster", "FILLED"),
        ("TAKE_PROFIT", "backpack", "FILLED"),
    ]
    kinds = [e["kind"] for e in r["timeline"]]
    assert kinds[0] == "round_created"
    assert {"intent", "order_state", "fill", "transition"} <= set(kinds)
    moves = [
        (e["detail"]["from"], e["detail"]["to"]) for e in r["timeline"] if e["kind"] == "transition"
    ]
    assert moves == [
        ("OPENING", "MONITORING"),
        ("MONITORING", "LIMIT_SET"),
        ("LIMIT_SET", "CLOSING"),
        ("CLOSING", "DONE"),
    ]
    times = [e["at"] for e in r["timeline"]]
    assert times == sorted(times) and all(e["text"] for e in r["timeline"])
    assert r["commands"] == []

    rejected = run_ctl("show", str(REJECTED_ROUND), "--json", "--db", db).json()
    assert "order_rejected" in [e["kind"] for e in rejected["timeline"]]

    human = run_ctl("show", str(TP_ROUND), "--db", db)
    assert human.code == 0
    for needle in (
        "timeline (UTC)",
        "OPENING -> MONITORING (entries_filled)",
        "stop-loss on aster",
        "TAKE_PROFIT",
        "take-profit on backpack",
        "aster short",
        "realized PnL",
    ):
        assert needle in human.out
    halted = run_ctl("show", str(HALTED_ROUND), "--db", db).out
    assert "MONITORING -> HALTED (halt): test: unexplained exposure" in halted
    assert "rejected" in run_ctl("show", str(REJECTED_ROUND), "--db", db).out


def test_history_totals_by_utc_day(db: str) -> None:
    h = run_ctl("history", "--json", "--db", db).json()
    assert h["since"] is None
    (day,) = h["days"]
    assert [r["id"] for r in day["rounds"]] == [TP_ROUND, REJECTED_ROUND]
    total = h["total"]
    assert total == day["totals"]
    assert total["rounds"] == 2 and total["wins"] == 1 and total["win_rate"] == "0.5000"
    rounds = {r["id"]: r for r in run_ctl("status", "--json", "--db", db).json()["rounds"]}
    realized = sum(float(rounds[i]["realized_pnl"]) for i in (TP_ROUND, REJECTED_ROUND))
    assert float(total["realized_pnl"]) == pytest.approx(realized)
    assert set(total["volume"]) == {"aster", "backpack"}
    assert all(float(v) > 0 for v in total["volume"].values())

    recent = run_ctl("history", "--days", "2", "--json", "--db", db).json()
    assert recent["since"] is not None and recent["total"]["rounds"] == 2

    human = run_ctl("history", "--db", db)
    assert human.code == 0
    assert "win rate 50% (1/2)" in human.out and "VOL backpack" in human.out
    assert day["day"] in human.out


def test_halted_lists_rounds_needing_an_operator(db: str) -> None:
    (h,) = run_ctl("halted", "--json", "--db", db).json()
    assert h["id"] == HALTED_ROUND and h["state"] == "HALTED"
    assert h["reason"] == "test: unexplained exposure"
    assert h["halted_from"] == "MONITORING" and h["halted_at"] is not None
    human = run_ctl("halted", "--db", db).out
    assert "test: unexplained exposure" in human and "hedgectl resume ROUND" in human


def test_watch_once_renders_the_monitoring_lines(db: str) -> None:
    frame = run_ctl("watch", "--once", "--db", db)
    assert frame.code == 0
    out = frame.out
    assert f"round {OPEN_ROUND} MONITORING" in out
    assert "aster SOLUSDT bid" in out and "backpack SOL_USDC_PERP bid" in out  # both venues
    assert "entry" in out and "now" in out and "PnL" in out  # each leg
    assert "hedge PnL" in out and "spread" in out
    assert "aster short" in out and "HEDGE PNL" in out  # and the status table

    snap = json.loads(run_ctl("watch", "--once", "--json", "--db", db).out)
    assert set(snap) == {"at", "daemon", "quotes", "funding", "rounds"}
    assert snap["daemon"]["paused"] is True
    # both venues' next funding settlement, as the daemon last read it
    assert {(f["venue"], f["symbol"]) for f in snap["funding"]} == {
        ("aster", "SOLUSDT"),
        ("backpack", "SOL_USDC_PERP"),
    }
    assert "funding: aster SOLUSDT next" in out
    assert {q["venue"] for q in snap["quotes"]} == {"aster", "backpack"}
    assert all(set(r) == STATUS_KEYS for r in snap["rounds"])


def test_chinese_locale_gives_chinese_views(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    status = run_ctl("status", "--db", db)
    assert status.code == 0
    for word in (
        "守护进程：",
        "新轮次：已被运维人员暂停",
        "交易对",
        "对冲盈亏",
        "监控中",
        "已停止",
    ):
        assert word in status.out, word
    assert "aster 空头" in status.out and "backpack 多头" in status.out

    days = run_ctl("history", "--db", db).out
    assert "日期（UTC）" in days and "2 轮" in days and "胜率" in days and "合计" in days

    show = run_ctl("show", str(TP_ROUND), "--db", db).out
    for word in ("时间线（UTC）", "已实现盈亏", "轮次已创建（OPENING）", "已成交", "订单"):
        assert word in show, word

    frame = run_ctl("watch", "--once", "--db", db).out
    assert "第 1 次" in frame and f"轮次 {OPEN_ROUND} 监控中" in frame
    assert "活跃轮次 2，持仓 4" in frame  # the open round and the halted one, two legs each
    for word in (
        "开仓价",
        "开仓以来变化",
        "买价",
        "卖价",
        "腿状态",
        "持仓",
        "两所价差 $",
        "按 Ctrl-C 退出",
    ):
        assert word in frame, word

    missing = run_ctl("show", "99", "--db", db)
    assert missing.code == ctl.EXIT_NOT_FOUND and "没有轮次 99" in missing.err
    english = run_ctl("status", "--lang", "en", "--db", db).out
    assert "paused by operator" in english and "MONITORING" in english
    machine = run_ctl("show", str(TP_ROUND), "--json", "--db", db).json()  # --json: English
    assert machine["timeline"][0]["text"] == "round created (OPENING), short on aster"


def test_watch_live_view_ends_cleanly_on_ctrl_c(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(
        ctl, "console", lambda _file: Console(file=screen, force_terminal=True, width=160)
    )
    frames: list[float] = []

    def sleep(seconds: float) -> None:  # the third wait is interrupted by Ctrl-C
        frames.append(seconds)
        if len(frames) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    result = run_ctl("watch", "--interval", "0.5", "--db", db)
    assert result.code == 0 and result.err == ""
    assert "hedge PnL" in screen.getvalue() and len(frames) == 3
    assert "\x1b[" in screen.getvalue()  # drawn as a live terminal view


def test_watch_in_a_real_process_exits_0_on_sigint(db: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hedged.ctl", "watch", "--interval", "0.2", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(30, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        seen = ""
        while "Ctrl-C to quit" not in seen:  # a whole first frame
            line = proc.stdout.readline()
            assert line, "watch ended before drawing a frame"
            seen += line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "hedge PnL" in seen


def test_a_real_process_reads_and_refuses(db: str) -> None:
    def hedgectl(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hedged.ctl", *argv, "--db", db],
            capture_output=True,
            text=True,
            timeout=30,
        )

    shown = hedgectl("show", str(OPEN_ROUND), "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["state"] == "MONITORING"
    missing = hedgectl("close", "99")
    assert missing.returncode == 1 and "no round 99" in missing.stderr


# -- read-only: nothing written, nothing created ---------------------------------------------

READS = [  # each with what it shows of the scenario
    (["status"], "MONITORING"),
    (["status", "--json"], '"MONITORING"'),
    (["show", str(OPEN_ROUND)], "MONITORING"),
    (["history"], "win rate"),
    (["halted"], "test: unexplained exposure"),
    (["watch", "--once"], "MONITORING"),
]


def _files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time: a write, or a -wal/-shm, changes them."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def _unprivileged() -> list[str]:
    """A prefix that runs a command as nobody when the tests run as root, for whom a read-only
    file or directory is writable all the same."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only copy would not be read-only")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_every_read_works_on_a_read_only_copy_and_changes_nothing(db: str) -> None:
    """`status` in a real process as a user who cannot write the copy, then every read; the
    files' bytes and times, and no new file (-wal, -shm, -journal), show nothing was written."""
    with tempfile.TemporaryDirectory() as top:  # not under pytest's owner-only tmp_path
        Path(top).chmod(0o755)
        copy = Path(top) / "ro" / "hedged.db"
        copy.parent.mkdir()
        shutil.copy2(db.removeprefix("sqlite:///"), copy)
        copy.chmod(0o444)
        copy.parent.chmod(0o555)
        before = _files(copy.parent)
        url = f"sqlite:///{copy}"
        try:
            status = subprocess.run(
                [*_unprivileged(), sys.executable, "-m", "hedged.ctl", "status", "--db", url],
                capture_output=True,
                text=True,
                timeout=60,
                env=os.environ | {"COLUMNS": "200"},
            )
            assert status.returncode == 0 and status.stderr == "", status.stderr
            assert "MONITORING" in status.stdout
            for argv, shown in READS:
                result = run_ctl(*argv, "--db", url)
                assert result.code == 0 and result.err == "", (argv, result.err)
                assert shown in result.out, argv
        finally:
            copy.parent.chmod(0o755)
        assert _files(copy.parent) == before


def test_read_commands_get_a_store_that_cannot_write(db: str) -> None:
    for argv, _ in READS:
        store = ctl.open_store(ctl.parser().parse_args([*argv, "--db", db]))
        try:
            assert store.count_rounds() == 4
            with pytest.raises(SQLAlchemyError, match="readonly"):
                store.set_meta("written_by", "hedgectl")
        finally:
            store.close()


def test_reads_while_the_daemon_has_the_database_open(db: str, store_of: Any) -> None:
    """What the running daemon committed is still in its WAL: the reader sees it, and leaves
    the database and the WAL as they were (readers only mark the shared-memory index)."""
    daemon = store_of(db)
    daemon.set_meta("paused", "0")
    directory = Path(db.removeprefix("sqlite:///")).parent
    names = {"copy.db", "copy.db-wal", "copy.db-shm"}
    assert {p.name for p in directory.iterdir()} == names
    before = _files(directory)
    for argv, shown in READS:
        result = run_ctl(*argv, "--db", db)
        assert result.code == 0 and shown in result.out, (argv, result.err)
    assert "new rounds: not paused" in run_ctl("status", "--db", db).out
    after = _files(directory)
    assert set(after) == names
    assert after["copy.db"] == before["copy.db"] and after["copy.db-wal"] == before["copy.db-wal"]


@pytest.mark.parametrize("argv", [["status"], ["status", "--json"], ["watch", "--json"]])
def test_output_closed_early_ends_quietly(db: str, argv: list[str]) -> None:
    """`hedgectl status | head -1`: the reader is gone (here before the first write)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hedged.ctl", *argv, "--db", db],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (ctl.EXIT_OUTPUT_CLOSED, "")


# -- steering with no daemon ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "kind", "round_id"),
    [
        (["pause"], "pause", None),
        (["resume"], "resume", None),
        (["flatten"], "flatten", None),
        (["close", str(OPEN_ROUND)], "close", OPEN_ROUND),
        (["resume", str(HALTED_ROUND)], "resume", HALTED_ROUND),
    ],
)
def test_no_daemon_exits_3_and_the_command_stays_queued(
    db: str, store_of: Any, argv: list[str], kind: str, round_id: int | None
) -> None:
    started = time.monotonic()
    result = run_ctl(*argv, "--timeout", "0.3", "--db", db)
    assert result.code == ctl.EXIT_NO_ACK
    assert time.monotonic() - started < 5
    assert "not acknowledged within 0.3s" in result.err
    assert "the daemon looks down" in result.err
    assert "will be applied when the daemon next runs" in result.err
    (pending,) = store_of(db).pending_commands()
    assert (pending.kind, pending.round_id, pending.status) == (kind, round_id, "PENDING")

    again = run_ctl(*argv, "--timeout", "0", "--json", "--db", db)
    assert again.code == ctl.EXIT_NO_ACK
    assert again.json()["id"] == pending.id and again.json()["status"] == "PENDING"
    assert len(store_of(db).pending_commands()) == 1  # waited on the queued one, no duplicate


def test_ctrl_c_while_waiting_leaves_the_command_queued(
    db: str, store_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupted)
    result = run_ctl("flatten", "--db", db)
    assert result.code == ctl.EXIT_NO_ACK and "waiting interrupted" in result.err
    assert [c.kind for c in store_of(db).pending_commands()] == ["flatten"]


def test_global_command_is_queued_again_after_a_different_one(db: str, store_of: Any) -> None:
    for argv in (["pause"], ["resume"], ["pause"]):
        assert run_ctl(*argv, "--timeout", "0", "--db", db).code == ctl.EXIT_NO_ACK
    assert [c.kind for c in store_of(db).pending_commands()] == ["pause", "resume", "pause"]


def test_not_found_refused_and_usage_exit_codes(db: str, store_of: Any, tmp_path: Path) -> None:
    cases: list[tuple[list[str], int, str]] = [
        (["close", "99"], 1, "no round 99"),
        (["resume", "99"], 1, "no round 99"),
        (["show", "99"], 1, "no round 99"),
        (["close", str(TP_ROUND)], 4, "already DONE"),
        (["resume", str(OPEN_ROUND)], 4, "is MONITORING, not HALTED"),
        (["close"], 2, "ROUND"),
        (["close", "abc"], 2, "a round number expected"),
        (["show", "0"], 2, "from 1 to"),
        (["history", "--days", "0"], 2, "from 1 to"),
        (["watch", "--interval", "0"], 2, "--interval"),
        (["pause", "--timeout", "-1"], 2, "--timeout"),
        (["status", "--recent", "x"], 2, "--recent"),
        (["frobnicate"], 2, "invalid choice"),
    ]
    for argv, code, needle in cases:
        result = run_ctl(*argv, "--db", db) if argv != ["frobnicate"] else run_ctl(*argv)
        assert (result.code, argv) == (code, argv), result.err
        assert needle in result.err, (argv, result.err)
    assert store_of(db).pending_commands() == []  # nothing refused was queued

    missing = run_ctl("status", "--db", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert missing.code == 1 and "no database" in missing.err
    unreachable = run_ctl("status", "--db", "postgresql+psycopg://hedged:s3cret@127.0.0.1:1/x")
    assert unreachable.code == 1 and "cannot open the database" in unreachable.err
    assert "s3cret" not in unreachable.err + unreachable.out
    bad = tmp_path / "bad.toml"
    bad.write_text("[strategy]\nstop_loss = 0.01\n")
    config = run_ctl("halted", "--config", str(bad), "--db", db)
    assert config.code == 78 and "configuration error" in config.err and str(bad) in config.err


def test_help_documents_the_exit_codes() -> None:
    result = run_ctl("--help")
    assert result.code == 0
    for line in ("0   ok", "1   not found", "2   usage", "3   the daemon did not acknowledge"):
        assert line in result.out
    assert "4   the command was refused" in result.out and "78  configuration" in result.out
    assert "141 the output was closed" in result.out
    for command in ("status", "show", "history", "watch", "halted", "pause", "resume", "close"):
        assert command in result.out


# -- steering with a daemon acknowledging ---------------------------------------------------


async def test_close_is_acknowledged_and_the_round_closes(rig: Rig) -> None:
    result = await with_daemon(rig, "close", str(OPEN_ROUND))
    assert result.code == 0, result.err
    assert f"close round {OPEN_ROUND}: done: round {OPEN_ROUND} is CLOSING" in result.out
    assert rig.state(OPEN_ROUND) in ("CLOSING", "DONE")
    r = await rig.until("DONE", OPEN_ROUND)
    assert r.reason == "operator close"
    shown = (
        await asyncio.to_thread(run_ctl, "show", str(OPEN_ROUND), "--json", "--db", rig.url)
    ).json()
    (command,) = [e for e in shown["timeline"] if e["kind"] == "command"]
    assert command["text"] == f"operator close: done: round {OPEN_ROUND} is CLOSING"
    assert [c["status"] for c in shown["commands"]] == ["DONE"]


async def test_flatten_closes_everything_and_pauses(rig: Rig) -> None:
    rig.store.set_meta("paused", "0")
    result = await with_daemon(rig, "flatten", "--json")
    assert result.code == 0, result.err
    ack = result.json()
    assert ack["status"] == "DONE" and ack["result"].startswith("paused; closing")
    assert rig.store.get_meta("paused") == "1"
    await rig.until("DONE", OPEN_ROUND)
    await rig.until("DONE", HALTED_ROUND)  # an operator close reaches a halted round too
    assert rig.store.count_rounds() == 4  # paused: nothing new opened
    assert rig.store.active_rounds() == []


async def test_pause_and_resume_are_acknowledged(rig: Rig) -> None:
    rig.store.set_meta("paused", "0")
    paused = await with_daemon(rig, "pause")
    assert paused.code == 0 and "pause: done: paused: no new rounds" in paused.out
    assert rig.store.get_meta("paused") == "1"
    status = await asyncio.to_thread(run_ctl, "status", "--db", rig.url)
    assert "new rounds: paused" in status.out
    resumed = await with_daemon(rig, "resume")
    assert resumed.code == 0 and "resumed: rounds open again" in resumed.out
    assert rig.store.get_meta("paused") == "0"


async def test_resume_of_a_halted_round(rig: Rig) -> None:
    result = await with_daemon(rig, "resume", str(HALTED_ROUND))
    assert result.code == 0, result.err
    assert f"round {HALTED_ROUND} is MONITORING" in result.out
    assert rig.state(HALTED_ROUND) != "HALTED"
    assert (await asyncio.to_thread(run_ctl, "halted", "--json", "--db", rig.url)).json() == []


async def test_command_the_daemon_fails_exits_4(rig: Rig) -> None:
    # Another operator's close, queued while the daemon was away, is applied first.
    rig.store.add_command("close", HALTED_ROUND)
    result = await with_daemon(rig, "resume", str(HALTED_ROUND))
    assert result.code == ctl.EXIT_REFUSED
    assert f"the daemon refused resume round {HALTED_ROUND}" in result.err
    assert "not allowed in state CLOSING" in result.err
