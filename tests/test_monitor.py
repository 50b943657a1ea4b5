"""The monitoring block in the daemon's terminal: `hedged run --paper` in a pseudo-terminal
(tmux), its screen captured; and no block where it must not be drawn."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hedged.monitor import wanted

HEDGED = [sys.executable, "-m", "hedged.cli", "run", "--paper"]
WAIT_SECONDS = 60.0  # a generous bound for a loaded machine, not a measurement


@pytest.mark.parametrize(
    ("asked", "log_format", "environ", "tty", "drawn"),
    [
        (None, "text", {}, True, True),  # a terminal
        (None, "text", {}, False, False),  # a pipe or a file
        (True, "text", {}, False, True),  # --monitor
        (False, "text", {}, True, False),  # --no-monitor
        (None, "json", {}, True, False),
        (True, "json", {}, True, False),
        (True, "journal", {}, True, False),
        (None, "text", {"INVOCATION_ID": "1f2e"}, True, False),  # under systemd
        (True, "text", {"NOTIFY_SOCKET": "/run/systemd/notify"}, True, False),
    ],
)
def test_when_the_block_is_drawn(
    asked: bool | None, log_format: str, environ: dict[str, str], tty: bool, drawn: bool
) -> None:
    assert wanted(asked, log_format, environ, tty) is drawn


def config(tmp_path: Path) -> Path:
    """Paper mode, a 0.5-s monitoring interval, the state in tmp_path; no backstop orders
    (what the block shows does not depend on them)."""
    path = tmp_path / "hedged.toml"
    path.write_text(
        '[pair]\naster_symbol = "SOLUSDT"\nbackpack_symbol = "SOL_USDC_PERP"\n'
        "[strategy]\nposition_size_usdt = 25\npoll_interval_seconds = 0.5\nbackstop_stop = 0\n"
        f'[daemon]\nstate_dir = "{tmp_path}"\n'
    )
    return path


def environment(lang: str = "C.UTF-8") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    for name in ("INVOCATION_ID", "NOTIFY_SOCKET", "JOURNAL_STREAM", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env | {"LANG": lang, "TERM": "xterm-256color"}


class Terminal:
    """A tmux server of its own running one command in a 150x50 pseudo-terminal."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "tmux.sock")

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            timeout=30,
        )
        return done.stdout

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        # the pane stays after the command ends, so its last screen can be read
        command = shlex.join(argv) + "; echo EXITED $?; sleep 600"
        self.tmux("new-session", "-d", "-x", "150", "-y", "50", command, env=env)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-S", "-200")

    def until(self, seen: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            text = self.screen()
            if seen(text):
                return text
            assert time.monotonic() < deadline, f"not seen on the screen:\n{text}"
            time.sleep(0.2)

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the pseudo-terminal tests (apt-get install tmux)")
    t = Terminal(tmp_path)
    yield t
    t.stop()


def counter(screen: str, word: str = "#") -> int:
    found = re.findall(r"^" + re.escape(word) + r"(\d+)\b", screen, re.M)
    assert found, screen
    return int(found[-1])


PRICE = r"\d+\.\d+"


def test_paper_daemon_draws_the_live_block_in_its_terminal(
    terminal: Terminal, tmp_path: Path
) -> None:
    terminal.start([*HEDGED, "--config", str(config(tmp_path))], environment())
    screen = terminal.until(lambda s: "\nround 1 MONITORING " in s)
    lines = screen.splitlines()
    block = next(i for i, line in enumerate(lines) if re.match(r"#\d+ ", line))
    # the event log above the block, the block below it
    assert any("leading aster:SOLUSDT" in line for line in lines[:block])
    assert any("OPENING -> MONITORING" in line for line in lines[:block])
    assert re.search(r"^#\d+  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  active rounds 1", screen, re.M)
    assert re.search(rf"aster SOLUSDT bid {PRICE} ask {PRICE}", screen)
    assert re.search(rf"backpack SOL_USDC_PERP bid {PRICE} ask {PRICE}", screen)
    assert re.search(
        rf"round 1 MONITORING  entry {PRICE}  now {PRICE}  change [+-]?{PRICE}%", screen
    )
    assert re.search(r"LEG\s+SIDE\s+QTY\s+ENTRY\s+NOW\s+PNL%\s+LEG STATE", screen)
    leg = rf"\s+\d+\.\d+\s+{PRICE}\s+{PRICE}\s+[+-]?{PRICE}%\s+open"
    assert re.search(r"aster short\s+sell" + leg, screen)
    assert re.search(r"backpack long\s+buy" + leg, screen)
    assert re.search(rf"hedge PnL [+-]?{PRICE}  price gap \$-?{PRICE}  spread -?{PRICE} bp", screen)
    # live: redrawn in place with the next count, not scrolled
    first = counter(screen)
    later = terminal.until(lambda s: counter(s) > first)
    assert later.count("LEG STATE") == 1
    terminal.tmux("send-keys", "C-c")
    ended = terminal.until(lambda s: "EXITED" in s)
    assert "EXITED 0" in ended and "SIGINT: stopping" in ended


def test_block_in_chinese_under_a_chinese_locale(terminal: Terminal, tmp_path: Path) -> None:
    terminal.start([*HEDGED, "--config", str(config(tmp_path))], environment("zh_CN.UTF-8"))
    screen = terminal.until(lambda s: "\n轮次 1 监控中 " in s)
    assert re.search(r"^第 \d+ 次  .* UTC  活跃轮次 1，持仓 2", screen, re.M)
    assert re.search(rf"aster SOLUSDT 买价 {PRICE} 卖价 {PRICE}", screen)
    assert re.search(rf"轮次 1 监控中  开仓价 {PRICE}  当前价 {PRICE}  开仓以来变化", screen)
    assert "腿状态" in screen and "aster 空头" in screen and "两所价差 $" in screen
    assert "轮次 1：OPENING -> MONITORING（entries_filled）" in screen  # the log, in Chinese


@pytest.mark.parametrize(
    "extra", [["--log-format", "json"], ["--no-monitor"]], ids=["json-log", "no-monitor"]
)
def test_no_block_with_a_json_log_or_when_refused(
    terminal: Terminal, tmp_path: Path, extra: list[str]
) -> None:
    terminal.start([*HEDGED, "--config", str(config(tmp_path)), *extra], environment())
    screen = terminal.until(lambda s: "OPENING -> MONITORING" in s)
    time.sleep(1.5)  # three monitoring intervals go by: still no block
    screen = terminal.screen()
    assert "active rounds" not in screen and "LEG STATE" not in screen
    if extra[-1] == "json":
        assert '"msg": "round 1: OPENING -> MONITORING (entries_filled)"' in screen


def test_no_block_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        daemon = subprocess.Popen(
            [*HEDGED, "--config", str(config(tmp_path))],
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while "OPENING -> MONITORING" not in log.read_text():
            assert daemon.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.5)  # three monitoring intervals go by
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    text = log.read_text()
    assert "active rounds" not in text and "LEG STATE" not in text and "\x1b[" not in text
