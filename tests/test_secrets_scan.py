"""Secrets appear nowhere: a full round through the real clients (`hedged sim` started on its
own, `hedged run --config FILE` with an owner-only credentials file, as in
tests/test_sim_standalone.py), with metrics and webhook alerts on; then every log line, the
whole database, every `hedgectl` read (human and --json), the metrics page scraped while the
daemon runs, and every webhook body are searched for the known secret values."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.backpack.signing import new_keypair

DEADLINE_SECONDS = 120


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


def forms(keys: dict[str, str]) -> dict[str, list[str]]:
    """Each secret in every spelling it could leak in."""
    signer = keys["signer_key"].removeprefix("0x")
    raw = base64.b64decode(keys["bp_secret"])
    return {
        "aster signer key": [signer, signer.upper()],
        "aster v1 secret": [keys["v1_secret"], keys["v1_secret"].upper()],
        "backpack secret": [
            keys["bp_secret"],
            keys["bp_secret"].rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
        ],
    }


@pytest.fixture
def sim(tmp_path: Path, keys: dict[str, str]) -> Iterator[dict[str, Any]]:
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
            sys.executable,
            "-m",
            "hedged.cli",
            "sim",
            "--accounts",
            str(accounts),
            "--state",
            str(state),
            "--volatility",
            "20",
            "--tick-seconds",
            "0.1",
            "--seed",
            "3",
        ],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line, f"hedged sim did not start: {proc.stderr.read()[-3000:]}"
        urls = json.loads(line)
        yield {"urls": urls, "state": state, "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


class _Hooks(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.bodies.append(self.rfile.read(length).decode())  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[str]]]:
    """A webhook receiver on 127.0.0.1 (in a thread: the daemon is another process)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    bodies: list[str] = []
    server.bodies = bodies  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    tmp_path: Path, urls: dict[str, str], keys: dict[str, str], auth: str, log_format: str
) -> tuple[Path, int, str]:
    creds = tmp_path / "credentials.toml"
    creds.write_text(
        f"[aster]\nuser = '{keys['user']}'\nsigner = '{keys['signer']}'\n"
        f"signer_key = '{keys['signer_key']}'\napi_key = '{keys['v1_key']}'\n"
        f"api_secret = '{keys['v1_secret']}'\n"
        f"[backpack]\napi_key = '{keys['bp_public']}'\napi_secret = '{keys['bp_secret']}'\n"
    )
    creds.chmod(0o600)
    port = free_port()
    cfg = tmp_path / "hedged.toml"
    cfg.write_text(
        "[strategy]\nposition_size_usdt = 25\nmode = 'continuous'\nmax_rounds = 1\n"
        "max_round_seconds = 8\n"
        "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
        f"[aster]\nbase_url = '{urls['aster']}'\nws_url = '{urls['aster'].replace('http', 'ws')}'\n"
        f"auth = '{auth}'\n"
        f"[backpack]\nbase_url = '{urls['backpack']}'\n"
        f"ws_url = '{urls['backpack'].replace('http', 'ws')}'\n"
        f"[credentials]\nsource = 'file'\nfile = '{creds}'\n"
        f"[daemon]\nlog_level = 'DEBUG'\nlog_format = '{log_format}'\n"
        f"[metrics]\nport = {port}\n"
    )
    return cfg, port, f"http://127.0.0.1:{port}/metrics"


def round_state(db: Path) -> str | None:
    if not db.exists():
        return None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        try:
            row = conn.execute("SELECT state FROM rounds WHERE id = 1").fetchone()
        except sqlite3.OperationalError:  # tables not created yet
            return None
    return None if row is None else str(row[0])


def dump_database(db: Path) -> str:
    """Every row of every table, the SQL dump, and the raw bytes of the files."""
    parts = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"rounds", "orders", "fills", "events", "commands", "meta"} <= set(tables)
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # names from the file itself
                parts.append(f"{table}: {row!r}")
        parts.extend(conn.iterdump())
    for f in db.parent.glob(db.name + "*"):  # the file, and its -wal / -shm if any
        parts.append(f.read_bytes().decode("latin-1"))
    return "\n".join(parts)


@pytest.mark.parametrize(("auth", "log_format"), [("v3", "text"), ("v1", "json")])
def test_no_secret_in_logs_database_hedgectl_metrics_or_webhooks(
    tmp_path: Path,
    sim: dict[str, Any],
    keys: dict[str, str],
    hooks: tuple[str, list[str]],
    auth: str,
    log_format: str,
) -> None:
    hook_url, hook_bodies = hooks
    cfg, _, metrics_url = write_config(tmp_path, sim["urls"], keys, auth, log_format)
    with cfg.open("a") as f:
        f.write(f"[alerts]\nwebhook_url = '{hook_url}'\n")
    env = env_for(tmp_path)
    db = tmp_path / "hedged.db"
    stderr_file = tmp_path / "daemon.stderr"
    outputs: dict[str, str] = {}

    with stderr_file.open("w") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "hedged.cli", "run", "--config", str(cfg)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            give_up = time.monotonic() + DEADLINE_SECONDS
            while round_state(db) != "DONE" or not any("round_done" in b for b in hook_bodies):
                assert daemon.poll() is None, stderr_file.read_text()[-3000:]
                assert time.monotonic() < give_up, "no round finished in time"
                time.sleep(0.2)

            # The metrics page, while the daemon runs.
            with urllib.request.urlopen(metrics_url, timeout=10) as page:
                outputs["metrics"] = page.read().decode()
            assert 'hedged_rounds_finished_total{reason="' in outputs["metrics"]
            assert "hedged_venue_call_seconds_bucket" in outputs["metrics"]

            # Every hedgectl read, human and --json.
            for command in (["status"], ["show", "1"], ["history"], ["halted"]):
                for extra in ([], ["--json"]):
                    argv = [*command, *extra, "--config", str(cfg)]
                    ctl = subprocess.run(
                        [sys.executable, "-m", "hedged.ctl", *argv],
                        env=env | {"COLUMNS": "200"},
                        capture_output=True,
                        text=True,
                        timeout=30,
                    )
                    assert ctl.returncode == 0, (argv, ctl.stderr)
                    outputs[" ".join(argv)] = ctl.stdout + ctl.stderr
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0
    outputs["daemon stdout"] = out
    outputs["daemon stderr"] = stderr_file.read_text()
    outputs["database"] = dump_database(db)
    outputs["webhooks"] = "\n".join(hook_bodies)

    # The scan is only worth something if the round really traded with those keys.
    assert "CLOSING -> DONE" in outputs["daemon stderr"]
    assert '"state": "DONE"' in outputs["status --json --config " + str(cfg)]
    assert len(outputs["daemon stderr"].splitlines()) > 20
    for name, spellings in forms(keys).items():
        for where, text in outputs.items():
            for secret in spellings:
                assert secret not in text, f"{name} found in {where}"
