"""`hedged sim` started on its own, and `hedged run --config FILE` trading against it through
the real clients exactly as against the real venues (keys from an accounts file, secrets from
an owner-only credentials file)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.backpack.signing import new_keypair


def env_for(state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env["STATE_DIRECTORY"] = str(state_dir)
    env.pop("NOTIFY_SOCKET", None)
    return env


@pytest.fixture
def keys() -> dict[str, str]:
    signer_key, signer = new_agent_key()
    _, user = new_agent_key()
    bp_secret, bp_public = new_keypair()
    return {
        "signer_key": signer_key,
        "signer": signer,
        "user": user,
        "bp_secret": bp_secret,
        "bp_public": bp_public,
        "v1_key": secrets.token_hex(16),
        "v1_secret": secrets.token_hex(32),
    }


@contextmanager
def started_sim(tmp_path: Path, keys: dict[str, str], *options: str) -> Iterator[dict[str, Any]]:
    """`hedged sim` with `options`, for alice's keys; its URLs as it announces them."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "[[account]]\nname = 'alice'\nbalance = '10000'\n"
        f"aster_api_key = '{keys['v1_key']}'\naster_api_secret = '{keys['v1_secret']}'\n"
        f"aster_user = '{keys['user']}'\naster_signer = '{keys['signer']}'\n"
        f"backpack_public_key = '{keys['bp_public']}'\n"
    )
    state = tmp_path / "sim-state.json"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hedged.cli", "sim"),
            *("--accounts", str(accounts), "--state", str(state)),
            *options,
        ],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        yield {"urls": urls, "state": state, "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


@pytest.fixture
def sim(tmp_path: Path, keys: dict[str, str]) -> Iterator[dict[str, Any]]:
    with started_sim(
        tmp_path, keys, "--volatility", "20", "--tick-seconds", "0.1", "--seed", "3"
    ) as started:
        yield started


def admin(url: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def write_config(tmp_path: Path, urls: dict[str, str], keys: dict[str, str], auth: str) -> Path:
    creds = tmp_path / "credentials.toml"
    creds.write_text(
        f"[aster]\nuser = '{keys['user']}'\nsigner = '{keys['signer']}'\n"
        f"signer_key = '{keys['signer_key']}'\napi_key = '{keys['v1_key']}'\n"
        f"api_secret = '{keys['v1_secret']}'\n"
        f"[backpack]\napi_key = '{keys['bp_public']}'\napi_secret = '{keys['bp_secret']}'\n"
    )
    creds.chmod(0o600)
    cfg = tmp_path / "hedged.toml"
    cfg.write_text(
        "[strategy]\nposition_size_usdt = 25\nmode = 'single'\nmax_round_seconds = 20\n"
        "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
        f"[aster]\nbase_url = '{urls['aster']}'\nws_url = '{urls['aster'].replace('http', 'ws')}'\n"
        f"auth = '{auth}'\n"
        f"[backpack]\nbase_url = '{urls['backpack']}'\n"
        f"ws_url = '{urls['backpack'].replace('http', 'ws')}'\n"
        f"[credentials]\nsource = 'file'\nfile = '{creds}'\n"
    )
    return cfg


@pytest.mark.parametrize("auth", ["v3", "v1"])
def test_daemon_trades_against_a_separately_started_sim(
    tmp_path: Path, sim: dict[str, Any], keys: dict[str, str], auth: str
) -> None:
    cfg = write_config(tmp_path, sim["urls"], keys, auth)
    run = subprocess.run(
        [sys.executable, "-m", "hedged.cli", "run", "--config", str(cfg)],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "CLOSING -> DONE" in run.stderr
    for secret in (keys["signer_key"], keys["bp_secret"], keys["v1_secret"]):
        assert secret not in run.stderr and secret not in run.stdout
    ctl = subprocess.run(
        [sys.executable, "-m", "hedged.ctl", "status", "--json", "--config", str(cfg)],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    (r,) = json.loads(ctl.stdout)["rounds"]
    assert r["state"] == "DONE" and r["realized_pnl"] is not None
    for venue in ("aster", "backpack"):
        sent = admin(sim["urls"][venue], "/_admin/submissions")
        assert sent and all(n == 1 for n in sent.values()), f"{venue}: {sent}"
    sim["proc"].send_signal(signal.SIGTERM)
    sim["proc"].wait(timeout=15)
    saved = json.loads(sim["state"].read_text())  # the exchange outlives the simulator process
    assert saved["aster"]["orders"] and saved["backpack"]["orders"]


PAIRS = {"SOLUSDT": "SOL_USDC_PERP", "ETHUSDT": "ETH_USDC_PERP", "BTCUSDT": "BTC_USDC_PERP"}


def quotes(urls: dict[str, str]) -> dict[str, tuple[Decimal, Decimal]]:
    """Every pair's symbol's bid and ask, read from each venue's public REST."""
    seen = {}
    for aster, backpack in PAIRS.items():
        book = admin(urls["aster"], f"/fapi/v1/ticker/bookTicker?symbol={aster}")
        seen[aster] = (Decimal(book["bidPrice"]), Decimal(book["askPrice"]))
        depth = admin(urls["backpack"], f"/api/v1/depth?symbol={backpack}")
        seen[backpack] = (Decimal(depth["bids"][-1][0]), Decimal(depth["asks"][0][0]))
    return seen


def test_sim_serves_several_pairs_each_on_its_own_price(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    pairs = [f"--pair={aster}:{backpack}" for aster, backpack in PAIRS.items()]
    # the price moves only when told: each pair's quotes are known
    with started_sim(tmp_path, keys, *pairs, "--tick-seconds", "0", "--basis-bps", "0") as sim:
        before = quotes(sim["urls"])
        assert len(set(before.values())) == 1  # every pair starts at the same price
        moved = admin(sim["urls"]["aster"], "/_admin/price", {"price": "200", "symbol": "ETHUSDT"})
        assert moved == {"price": "200"}
        after = quotes(sim["urls"])
    assert after["ETHUSDT"] == after["ETH_USDC_PERP"] != before["ETHUSDT"]
    for symbol in ("SOLUSDT", "SOL_USDC_PERP", "BTCUSDT", "BTC_USDC_PERP"):
        assert after[symbol] == before[symbol]  # the other pairs' paths did not move


def test_sim_refuses_pairs_beside_the_one_pair_options(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    run = subprocess.run(
        [
            *(sys.executable, "-m", "hedged.cli", "sim", "--accounts", str(tmp_path / "a.toml")),
            *("--pair", "ETHUSDT:ETH_USDC_PERP", "--aster-symbol", "SOLUSDT"),
        ],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "--pair" in run.stderr
