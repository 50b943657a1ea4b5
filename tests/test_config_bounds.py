"""Every numeric and timing key of the configuration, swept with values no operator should be
able to start the daemon with: each is refused naming the file and the key (exit 78 from
`hedged run --config`). The key list comes from the config model, so a new key is swept too."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import get_type_hints

import pytest

from hedged import cli, config
from hedged.config import EX_CONFIG, ConfigError, load

REQUIRED = (
    "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
    "[strategy]\nposition_size_usdt = 25\n"
)


def numeric_keys() -> list[tuple[str, str, bool]]:
    """(section, key, integral) for every int or Decimal field of the config model."""
    keys = []
    for section, (cls, _rules) in config._SCHEMA.items():
        for name, hint in get_type_hints(cls).items():
            if hint in (int, Decimal):
                keys.append((section, name, hint is int))
    return keys


KEYS = numeric_keys()


def document(section: str, key: str, literal: str) -> str:
    if section == "strategy" and key == "position_size_usdt":
        return REQUIRED.replace("position_size_usdt = 25", f"position_size_usdt = {literal}")
    if section in ("pair", "strategy"):
        return REQUIRED.replace(f"[{section}]\n", f"[{section}]\n{key} = {literal}\n")
    return REQUIRED + f"[{section}]\n{key} = {literal}\n"


# TOML literals no numeric key may accept
HOSTILE = {
    "huge-int": "9223372036854775807",
    "huge-float": "1e30",
    "nan": "nan",
    "inf": "inf",
    "minus-inf": "-inf",
    "exponent-string": '"1E+1000000"',
    "huge-exponent-string": '"1E+999999999999999999"',
    "fullwidth-digit": '"\uff12"',  # a fullwidth two
    "arabic-indic-digit": '"\u0663"',  # an Arabic-Indic three
    "underscored-string": '"1_0"',
    "nan-string": '"NaN"',
    "infinity-string": '"Infinity"',
}


def test_the_sweep_covers_the_model() -> None:
    swept = {f"{s}.{k}" for s, k, _ in KEYS}
    assert {"strategy.max_round_seconds", "strategy.poll_interval_seconds"} <= swept
    assert {"paper.start_price", "paper.tick_seconds", "alerts.venue_down_seconds"} <= swept
    assert len(swept) >= 20


@pytest.mark.parametrize(("section", "key", "integral"), KEYS, ids=[f"{s}.{k}" for s, k, _ in KEYS])
def test_every_numeric_key_has_both_bounds(section: str, key: str, integral: bool) -> None:
    rule = config._SCHEMA[section][1][key]
    assert isinstance(rule, config._Number)
    assert rule.integral is integral
    assert Decimal(rule.low[1]) < Decimal(rule.high[1])


@pytest.mark.parametrize(("section", "key", "integral"), KEYS, ids=[f"{s}.{k}" for s, k, _ in KEYS])
def test_hostile_values_name_file_and_key(
    tmp_path: Path, section: str, key: str, integral: bool
) -> None:
    rule = config._SCHEMA[section][1][key]
    assert isinstance(rule, config._Number)
    path = tmp_path / "hedged.toml"
    low_op, low = rule.low
    high_op, high = rule.high
    below = Decimal(low) - 1 if low_op == ">=" else Decimal(low)  # just outside the floor
    above = Decimal(high) + 1 if high_op == "<=" else Decimal(high)
    values = {**HOSTILE, "below-floor": str(below), "above-ceiling": str(above)}
    if integral:
        values["below-floor"] = str(int(below))
        values["above-ceiling"] = str(int(above))
    for small in ("0", "-1"):
        if config._COMPARE[low_op](Decimal(small), Decimal(low)):
            # 0 means "off" or "unlimited" for some keys: accepted, as is
            path.write_text(document(section, key, small), encoding="utf-8")
            assert getattr(getattr(load(path), section), key) == int(small)
        else:
            values[small] = small
    for name, literal in values.items():
        path.write_text(document(section, key, literal), encoding="utf-8")
        with pytest.raises(ConfigError) as err:
            load(path)
        assert (err.value.file, err.value.key) == (str(path), f"{section}.{key}"), name


@pytest.mark.parametrize(("section", "key", "integral"), KEYS, ids=[f"{s}.{k}" for s, k, _ in KEYS])
def test_the_cli_exits_78_on_each_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, key: str, integral: bool
) -> None:
    path = tmp_path / "hedged.toml"
    path.write_text(document(section, key, '"1E+1000000"'), encoding="utf-8")
    assert cli.main(["run", "--paper", "--config", str(path)]) == EX_CONFIG
    assert f"{path}: {section}.{key}: " in capsys.readouterr().err


def run_hedged(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env["STATE_DIRECTORY"] = str(tmp_path / "state")
    return subprocess.run(
        [sys.executable, "-m", "hedged.cli", "run", "--paper", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("key", "literal"),
    [
        ("strategy.max_round_seconds", "1000000000000"),
        ("strategy.poll_interval_seconds", "1e-9"),
        ("strategy.position_size_usdt", '"1E+1000000"'),
        ("paper.start_price", "1e30"),
        ("strategy.cooldown_seconds", "-1"),
    ],
)
def test_hedged_run_exits_78_naming_file_and_key(tmp_path: Path, key: str, literal: str) -> None:
    path = tmp_path / "hedged.toml"
    section, name = key.split(".")
    path.write_text(document(section, name, literal), encoding="utf-8")
    run = run_hedged(tmp_path, "--config", str(path))
    assert run.returncode == EX_CONFIG, run.stderr[-2000:]
    assert f"{path}: {key}: " in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was created


# --- the file itself ---------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "hedged.toml"
    os.mkfifo(fifo)
    outcome: list[ConfigError] = []

    def read() -> None:
        try:
            load(fifo)
        except ConfigError as e:
            outcome.append(e)

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # unblock the reader before failing
        with open(fifo, "w"):
            pass
        reader.join()
        pytest.fail("loading a FIFO blocked")
    (err,) = outcome
    assert (err.file, err.key, err.problem) == (str(fifo), "<file>", "not a regular file")


def test_a_device_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        load(Path("/dev/zero"))
    assert (err.value.file, err.value.key) == ("/dev/zero", "<file>")
    assert err.value.problem == "not a regular file"


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hedged.toml"
    path.write_text(REQUIRED + "#" * (2 << 20), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert (err.value.key, err.value.problem) == ("<file>", f"larger than {1 << 20} bytes")


def test_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "hedged.toml"
    path.write_bytes(b"\xef\xbb\xbf" + REQUIRED.encode())
    assert load(path).strategy.position_size_usdt == 25


# --- the store ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite+pysqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared",
        "sqlite:///file:x.db?mode=memory&uri=true",
        "sqlite:///x.db?mode=memory",
        "sqlite:///file:mem?vfs=memdb&uri=true",
        "sqlite:///:memory:?uri=true",
    ],
)
def test_a_store_that_would_not_outlive_the_process_is_refused(tmp_path: Path, url: str) -> None:
    path = tmp_path / "hedged.toml"
    path.write_text(REQUIRED + f"[store]\nurl = '{url}'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert (err.value.file, err.value.key) == (str(path), "store.url")
    with pytest.raises(ConfigError) as err:
        load(overrides={"store.url": url})
    assert (err.value.file, err.value.key) == ("<overrides>", "store.url")


def test_hedged_run_refuses_an_in_memory_db(tmp_path: Path) -> None:
    run = run_hedged(tmp_path, "--db", "sqlite://")
    assert run.returncode == EX_CONFIG
    assert "store.url" in run.stderr and "not durable" in run.stderr


def test_a_relative_sqlite_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "hedged.toml"
    path.write_text(REQUIRED + "[store]\nurl = 'sqlite:///data/x.db'\n", encoding="utf-8")
    assert load(path).store.url == f"sqlite:///{tmp_path}/etc/data/x.db"
    absolute = f"sqlite:///{tmp_path}/y.db"
    path.write_text(REQUIRED + f"[store]\nurl = '{absolute}'\n", encoding="utf-8")
    assert load(path).store.url == absolute
