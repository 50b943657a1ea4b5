"""Every numeric argument of `hedgectl` takes ASCII digits within bounds, and anything else is
a usage error (exit 2) naming the argument: never a traceback, never a look-alike accepted."""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from hedged import ctl
from hedged.store import Store

NOT_NUMBERS = [
    "\uff12",  # fullwidth digit two: int() takes it
    "\u0663",  # Arabic-Indic digit three: so does int()
    "2_0",  # int() reads 20
    " 2",
    "2 ",
    "+2",
    "-2",
    "0x10",
    "1e3",
    "nan",
    "inf",
    "",
]
TOO_LARGE = ["99999999999999999999", "9223372036854775808", "9" * 5000]


def run_ctl(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ctl.main(list(argv))
    return code, err.getvalue()


def numeric_arguments() -> Iterator[tuple[str, argparse.Action]]:
    """(command, argument) for every argument that has a type other than a path."""
    sub = next(a for a in ctl.parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        for action in p._actions:
            if action.type is not None and action.type not in (Path, ctl._pair):
                yield command, action


def argv_with(command: str, action: argparse.Action, value: str) -> list[str]:
    """`command` with `value` for `action`, and a valid value for every other required one."""
    if not action.option_strings:
        return [command, value]
    needs_round = command in ("show", "close")
    return [command, *(["1"] if needs_round else []), f"{action.option_strings[0]}={value}"]


def label(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else str(action.metavar)


ARGUMENTS = list(numeric_arguments())


def test_the_sweep_covers_every_numeric_argument() -> None:
    swept = {(command, label(action)) for command, action in ARGUMENTS}
    assert swept == {
        ("status", "--recent"),
        ("show", "ROUND"),
        ("history", "--days"),
        ("watch", "--interval"),
        ("watch", "--recent"),
        ("pause", "--timeout"),
        ("resume", "--timeout"),
        ("resume", "ROUND"),
        ("close", "--timeout"),
        ("close", "ROUND"),
        ("flatten", "--timeout"),
    }


@pytest.mark.parametrize(
    ("command", "action"), ARGUMENTS, ids=[f"{c} {label(a)}" for c, a in ARGUMENTS]
)
def test_a_number_that_is_not_one_or_out_of_range_is_a_usage_error(
    command: str, action: argparse.Action, tmp_path: Path
) -> None:
    nowhere = f"sqlite:///{tmp_path / 'never-opened.db'}"  # parsing fails before any open
    for value in NOT_NUMBERS + TOO_LARGE:
        code, err = run_ctl(*argv_with(command, action, value), "--db", nowhere)
        assert code == ctl.EXIT_USAGE, (command, label(action), value, err)
        assert f"argument {label(action)}" in err and "expected" in err, (value, err)
        assert "Traceback" not in err and len(err) < 1000
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'hedged.db'}"
    store = Store(url)
    store.create_round("SOLUSDT", "SOL_USDC_PERP")
    store.close()
    yield url


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["show", "2147483647"], ctl.EXIT_NOT_FOUND, "no round 2147483647"),
        (["show", "2147483648"], ctl.EXIT_USAGE, "from 1 to 2147483647"),
        (["show", "00001"], ctl.EXIT_OK, ""),
        (["status", "--recent", "100000"], ctl.EXIT_OK, ""),
        (["status", "--recent", "100001"], ctl.EXIT_USAGE, "from 0 to 100000"),
        (["history", "--days", "36500"], ctl.EXIT_OK, ""),
        (["history", "--days", "800000"], ctl.EXIT_USAGE, "from 1 to 36500"),
        (["watch", "--once", "--interval", "0.5"], ctl.EXIT_OK, ""),
        (["watch", "--once", "--interval", "3601"], ctl.EXIT_USAGE, "to 3600"),
        (["close", "1", "--timeout", "86401"], ctl.EXIT_USAGE, "from 0 to 86400"),
    ],
)
def test_the_bounds_themselves(db: str, argv: list[str], code: int, needle: str) -> None:
    got, err = run_ctl(*argv, "--db", db)
    assert got == code, err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize("config", ["/dev/zero", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_refused_at_once(
    tmp_path: Path, config: str
) -> None:
    if config == "fifo":
        os.mkfifo(tmp_path / "hedged.toml")  # reading it would block forever
        config = str(tmp_path / "hedged.toml")
    code, err = run_ctl("status", "--config", config)
    assert code == 78 and "not a regular file" in err


@pytest.mark.parametrize("value", ["solusdt", "SOL", "SOLUSDT/ETH", "SOL USDT", "\uff33OLUSDT", ""])
def test_a_malformed_pair_is_a_usage_error(value: str) -> None:
    code, err = run_ctl("status", f"--pair={value}")
    assert code == 2 and "a pair expected" in err
