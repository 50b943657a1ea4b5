"""The command-line contract, run as real processes: `hedged run --paper ...`, `hedgectl status`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest


def env_for(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env["STATE_DIRECTORY"] = str(state_dir)
    env["COLUMNS"] = "200"  # hedgectl's tables are not cut to a narrow pseudo-terminal
    env.pop("NOTIFY_SOCKET", None)
    return env


def hedged(*args: str, state_dir: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hedged.cli", *args],
        env=env_for(state_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def hedgectl(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hedged.ctl", *args],
        env=env_for(state_dir),
        capture_output=True,
        text=True,
        timeout=30,
    )


def status_json(state_dir: Path) -> list[dict[str, Any]]:
    out = hedgectl("status", "--json", state_dir=state_dir)
    assert out.returncode == 0, out.stderr
    rounds: list[dict[str, Any]] = json.loads(out.stdout)["rounds"]
    return rounds


def test_single_paper_round_runs_to_done_and_shows_in_status(tmp_path: Path) -> None:
    started = time.monotonic()
    run = hedged("run", "--paper", "--mode", "single", state_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CLOSING -> DONE" in run.stderr
    print(f"paper single round took {elapsed:.1f}s")
    (r,) = status_json(tmp_path)
    assert r["state"] == "DONE" and r["id"] == 1
    assert r["pair"] == "SOLUSDT/SOL_USDC_PERP"
    assert r["realized_pnl"] is not None and r["hedge_pnl"] == r["realized_pnl"]
    legs = {leg["venue"]: leg for leg in r["legs"]}
    assert legs["aster"]["side"] == "SELL" and legs["backpack"]["side"] == "BUY"
    assert legs["aster"]["entered"] == legs["backpack"]["entered"] != "0"
    assert legs["aster"]["qty"] == legs["backpack"]["qty"] == "0.00"
    table = hedgectl("status", state_dir=tmp_path)
    assert table.returncode == 0 and "DONE" in table.stdout and "aster short" in table.stdout


def test_sigterm_stops_promptly_and_keeps_the_open_round(tmp_path: Path) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hedged.cli", "run", "--paper"],
        env=env_for(tmp_path) | {"NOTIFY_SOCKET": notify_path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (tmp_path / "hedged.db").exists():
                rounds = [r for r in status_json(tmp_path) if r["state"] == "MONITORING"]
                if rounds:
                    break
            time.sleep(0.2)
        else:
            pytest.fail("no round reached MONITORING")
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = proc.wait(timeout=15)
        print(f"stopped {time.monotonic() - stopped:.2f}s after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    messages = []
    with contextlib.suppress(TimeoutError):
        while True:
            messages.append(notify.recv(4096).decode())
    notify.close()
    assert messages[0].startswith("READY=1\nSTATUS=")  # after the first reconciliation
    assert any(m.startswith("WATCHDOG=1") for m in messages)
    assert "STOPPING=1" in messages
    assert any("rounds open; price age" in m for m in messages)
    rounds = status_json(tmp_path)
    assert rounds[0]["state"] in ("MONITORING", "LIMIT_SET")  # persisted, not abandoned
    assert (tmp_path / "hedged.db-paper-venues.json").exists()  # and so are the simulated venues


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        (
            "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
            "[strategy]\nposition_size_usdt = 25\nstop_loss = 0.5\n",
            "strategy.stop_loss",
        ),
        ("[strategy]\nstop_loss = 0.01\n", "pair.aster_symbol: missing required key"),
        ("not toml at all [", "<toml>"),
        (
            "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
            "[strategy]\nposition_size_usdt = 0\n",
            "strategy.position_size_usdt",
        ),
        (
            "[strategy]\nposition_size_usdt = 25\n"
            "[[pair]]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
            "[[pair]]\naster_symbol = 'ETHUSDT'\nbackpack_symbol = 'ETH_USDC_PERP'\n"
            "max_concurrent_rounds = 0\n",
            "pair[ETHUSDT].max_concurrent_rounds",
        ),
    ],
)
def test_bad_config_exits_78_naming_file_and_key(tmp_path: Path, toml: str, needle: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    run = hedged("run", "--paper", "--config", str(cfg), state_dir=tmp_path, timeout=30)
    assert run.returncode == 78
    assert str(cfg) in run.stderr and needle in run.stderr
    assert not (tmp_path / "hedged.db").exists()  # nothing touched before the config is good


def test_too_small_position_size_exits_78_before_trading(tmp_path: Path) -> None:
    cfg = tmp_path / "small.toml"
    cfg.write_text(
        "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
        "[strategy]\nposition_size_usdt = 2\n"
    )
    run = hedged("run", "--paper", "--config", str(cfg), state_dir=tmp_path, timeout=30)
    assert run.returncode == 78
    assert "position_size_usdt 2 buys" in run.stderr and "below the minimum" in run.stderr


def test_hedgectl_exit_codes(tmp_path: Path) -> None:
    missing = hedgectl("status", state_dir=tmp_path)
    assert missing.returncode == 1 and "no database" in missing.stderr
    usage = hedgectl("frobnicate", state_dir=tmp_path)
    assert usage.returncode == 2
    db = hedgectl("status", "--json", "--db", f"sqlite:///{tmp_path / 'x.db'}", state_dir=tmp_path)
    assert db.returncode == 1
