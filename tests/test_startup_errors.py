"""Start-up failures a restart cannot fix exit 78 (EX_CONFIG) naming what is wrong; those a
later start may get past exit 1. Run as real processes against the simulators."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from hedged import cli, config
from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.backpack.signing import new_keypair
from hedged.config import EX_CONFIG

PAIR = "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
SMALL = PAIR + "[strategy]\nposition_size_usdt = 2\n"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CONFIG = PAIR + "[strategy]\nposition_size_usdt = 25\n"  # below the venues' minimum: exits early


def hedged(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    environ["STATE_DIRECTORY"] = str(tmp_path / "state")
    environ.pop("NOTIFY_SOCKET", None)
    return subprocess.run(
        [sys.executable, "-m", "hedged.cli", "run", *args],
        env=environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=90,
    )


def write(path: Path, text_: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text_, encoding="utf-8")
    return path


def assert_config_error(run: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert run.returncode == EX_CONFIG, run.stderr[-3000:]
    for needle in needles:
        assert needle in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert "Unclosed" not in run.stderr  # every HTTP session was closed


def test_a_size_the_venues_refuse_names_file_and_key_and_closes_the_clients(
    tmp_path: Path,
) -> None:
    cfg = write(tmp_path / "small.toml", SMALL)
    run = hedged(tmp_path, "--paper", "--config", str(cfg))
    assert_config_error(run, f"{cfg}: strategy.position_size_usdt: ", "below the minimum")


@pytest.mark.parametrize("where", ["file", "/proc/hedged", "/proc/self"])
def test_an_unusable_state_dir_exits_78(tmp_path: Path, where: str) -> None:
    state_dir = str(write(tmp_path / "a-file", "")) if where == "file" else where
    cfg = write(tmp_path / "hedged.toml", CONFIG + f"[daemon]\nstate_dir = '{state_dir}'\n")
    run = hedged(tmp_path, "--paper", "--config", str(cfg))
    assert_config_error(run, f"{cfg}: daemon.state_dir: {state_dir}")


@pytest.mark.parametrize(
    ("csv", "problem"),
    [
        (None, "no such file"),
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"timestamp,price\n1,150\nnot,a number\n", "expected timestamp,price"),
        (b"timestamp,price\n", "no timestamp,price rows"),
        (b"timestamp,price\n1,150\n2,-3\n", "price '-3' is not between"),
        (b"timestamp,price\n1,NaN\n", "price 'NaN' is not between"),
        (b"timestamp,price\n1,1e30\n", "price '1e30' is not between"),
        (b"timestamp,price\ninf,150\n", "timestamp 'inf' not finite"),
        (b"timestamp,price,funding_rate\n1,150,abc\n", "funding rate 'abc' is not a number"),
    ],
)
def test_a_bad_price_csv_exits_78(tmp_path: Path, csv: bytes | None, problem: str) -> None:
    prices = tmp_path / "prices.csv"
    if csv is not None:
        prices.write_bytes(csv)
    cfg = write(tmp_path / "hedged.toml", CONFIG + "[paper]\nprice_csv = 'prices.csv'\n")
    run = hedged(tmp_path, "--paper", "--config", str(cfg))
    assert_config_error(run, f"{cfg}: paper.price_csv: ", problem)


def test_sim_with_a_funding_interval_not_above_zero_exits_78(tmp_path: Path) -> None:
    accounts = write(tmp_path / "accounts.toml", "[[account]]\nname = 'alice'\n")
    command = ["sim", "--accounts", str(accounts), "--funding-hours", "0"]
    run = subprocess.run(
        [sys.executable, "-m", "hedged.cli", *command],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert_config_error(run, "--funding-hours: 0 is not a positive number of hours")


def test_a_price_csv_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "prices.csv")
    cfg = write(tmp_path / "hedged.toml", CONFIG + "[paper]\nprice_csv = 'prices.csv'\n")
    run = hedged(tmp_path, "--paper", "--config", str(cfg))
    assert_config_error(run, "paper.price_csv: not a regular file")


def test_config_on_a_fifo_or_device_exits_78(tmp_path: Path) -> None:
    fifo = tmp_path / "hedged.toml"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        run = hedged(tmp_path, "--paper", "--config", path)
        assert run.returncode == EX_CONFIG
        assert f"{path}: <file>: not a regular file" in run.stderr


# --- the store ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_missing_postgres_database_exits_78_an_unreachable_server_1(tmp_path: Path) -> None:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
    except psycopg.OperationalError:
        if os.environ.get("HEDGED_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL not reachable on 127.0.0.1:5432")
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432")
    missing = "postgresql+psycopg://postgres@127.0.0.1:5432/hedged_no_such_database"
    run = hedged(tmp_path, "--paper", "--db", missing)
    assert_config_error(run, 'store.url: the database says database "hedged_no_such_database"')
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/hedged"
    run = hedged(tmp_path, "--paper", "--db", unreachable)
    assert run.returncode == 1
    assert "cannot start: the database: " in run.stderr
    assert "Traceback" not in run.stderr


def test_the_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path / "etc" / "hedged.toml", CONFIG + "[store]\nurl = 'sqlite:///db/x.db'\n"
    )
    cfg = config.load(cfg_file)
    old = os.umask(0)  # even with nothing masked
    try:
        store = cli.open_store(cfg, paper=True)
        try:
            with store.engine.begin() as c:  # a write: the WAL and its index now exist
                c.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            files = [tmp_path / "etc" / "db" / name for name in ("x.db", "x.db-wal", "x.db-shm")]
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            assert stat.S_IMODE((tmp_path / "etc" / "db").stat().st_mode) == 0o700
        finally:
            store.close()
    finally:
        os.umask(old)


def test_paper_venues_live_beside_their_own_database(tmp_path: Path) -> None:
    cfg = write(tmp_path / "small.toml", SMALL)
    for name in ("a", "b"):
        run = hedged(
            tmp_path,
            "--paper",
            "--config",
            str(cfg),
            "--db",
            f"sqlite:///{tmp_path / name / 'x.db'}",
        )
        assert run.returncode == EX_CONFIG, run.stderr[-2000:]
        assert (tmp_path / name / "x.db-paper-venues.json").is_file()
    assert not (tmp_path / "state" / "paper-venues.json").exists()


# --- the venues refuse ---------------------------------------------------------------------------


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """`hedged sim` with one account: (its base URLs, the account's credentials)."""
    signer_key, signer = new_agent_key()
    _, user = new_agent_key()
    bp_secret, bp_public = new_keypair()
    accounts = write(
        tmp_path / "accounts.toml",
        f"[[account]]\nname = 'alice'\nbalance = '10000'\naster_user = '{user}'\n"
        f"aster_signer = '{signer}'\nbackpack_public_key = '{bp_public}'\n",
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hedged.cli",
            "sim",
            "--accounts",
            str(accounts),
            "--tick-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        creds = {
            "HEDGED_ASTER_USER": user,
            "HEDGED_ASTER_SIGNER": signer,
            "HEDGED_ASTER_SIGNER_KEY": signer_key,
            "HEDGED_BACKPACK_API_KEY": bp_public,
            "HEDGED_BACKPACK_API_SECRET": bp_secret,
        }
        yield urls, creds
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def live_config(tmp_path: Path, urls: dict[str, str], pair: str = PAIR) -> Path:
    def ws(url: str) -> str:
        return url.replace("http://", "ws://")

    return write(
        tmp_path / "live.toml",
        pair
        + "[strategy]\nposition_size_usdt = 25\n"
        + f"[aster]\nbase_url = '{urls['aster']}'\nws_url = '{ws(urls['aster'])}'\n"
        + f"[backpack]\nbase_url = '{urls['backpack']}'\nws_url = '{ws(urls['backpack'])}'\n",
    )


def test_keys_the_venue_refuses_exit_78_naming_venue_and_credential(
    tmp_path: Path, sim: tuple[dict[str, str], dict[str, str]]
) -> None:
    urls, creds = sim
    cfg = live_config(tmp_path, urls)
    other_key, other_signer = new_agent_key()  # well-formed, but no agent of the account
    run = hedged(
        tmp_path,
        "--config",
        str(cfg),
        env=creds | {"HEDGED_ASTER_SIGNER_KEY": other_key, "HEDGED_ASTER_SIGNER": other_signer},
    )
    assert_config_error(
        run, "<environment>: HEDGED_ASTER_USER, HEDGED_ASTER_SIGNER, ", "aster refused"
    )
    assert other_key not in run.stderr
    bp_secret, bp_public = new_keypair()  # a key pair the venue never saw
    run = hedged(
        tmp_path,
        "--config",
        str(cfg),
        env=creds | {"HEDGED_BACKPACK_API_KEY": bp_public, "HEDGED_BACKPACK_API_SECRET": bp_secret},
    )
    assert_config_error(run, "<environment>: HEDGED_BACKPACK_API_KEY, ", "backpack refused")
    assert bp_secret not in run.stderr


def test_a_symbol_the_venue_does_not_list_exits_78_naming_the_key(
    tmp_path: Path, sim: tuple[dict[str, str], dict[str, str]]
) -> None:
    urls, creds = sim
    pair = "[pair]\naster_symbol = 'BTCUSDT'\nbackpack_symbol = 'BTC_USDC_PERP'\n"
    cfg = live_config(tmp_path, urls, pair)
    run = hedged(tmp_path, "--config", str(cfg), env=creds)
    assert_config_error(run, f"{cfg}: pair.aster_symbol: aster does not list BTCUSDT")


def test_a_backpack_secret_that_is_not_base64_exits_78_before_any_venue_call(
    tmp_path: Path,
) -> None:
    # endpoints nobody listens on: any call would fail with exit 1, not 78
    urls = {"aster": "http://127.0.0.1:1", "backpack": "http://127.0.0.1:1"}
    cfg = live_config(tmp_path, urls)
    key, signer = new_agent_key()
    creds = {
        "HEDGED_ASTER_USER": signer,
        "HEDGED_ASTER_SIGNER": signer,
        "HEDGED_ASTER_SIGNER_KEY": key,
        "HEDGED_BACKPACK_API_KEY": "AAAA",
        "HEDGED_BACKPACK_API_SECRET": "not*base64-s3cr3t",
    }
    run = hedged(tmp_path, "--config", str(cfg), env=creds)
    assert_config_error(
        run, "<environment>: HEDGED_BACKPACK_API_SECRET: not a base64 ED25519 secret"
    )
    assert "s3cr3t" not in run.stderr
    run = hedged(tmp_path, "--config", str(cfg), env=creds | {"HEDGED_ASTER_USER": signer + "\r"})
    assert_config_error(run, "HEDGED_ASTER_USER: contains a control character")


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "x.db", "not a database, just text " * 100)
    cfg = config.load(overrides={"store.url": f"sqlite:///{tmp_path / 'x.db'}"})
    with pytest.raises(config.ConfigError) as err:
        cli.open_store(cfg, paper=True)
    assert (err.value.key, err.value.problem) == (
        "store.url",
        "the database says file is not a database",
    )
