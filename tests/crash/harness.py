"""Kill -9 torture of the daemon.

A simulator process (`hedged sim --state`) outlives a daemon process (`hedged run --config`,
the real venue clients over loopback HTTP and WebSockets) that the harness SIGKILLs again and
again: at every named crash point of `hedged.crashpoints` (armed by `HEDGED_CRASH_AT`) and at
random moments in every round state, during start-up, during reconciliation and under wire
faults. At the end one more daemon flattens every round and stops; the simulator is stopped so
its state file is final, and the invariants are checked against the venues' own records.

Used by `test_kill9.py` (a short seeded run in CI) and `soak.py` (any number of kills).
Everything is bounded in time; every process is killed in a `finally`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from invariants import VenueRecords, Verdict, check_invariants, check_submissions

from hedged.adapters.aster.signing import sign_v1
from hedged.adapters.backpack.signing import new_keypair
from hedged.crashpoints import POINTS
from hedged.store import Store

ACCOUNT = "alice"
ASTER, BACKPACK = "aster", "backpack"
VENUES = (ASTER, BACKPACK)
SYMBOLS = {ASTER: "SOLUSDT", BACKPACK: "SOL_USDC_PERP"}
ORDER_PATHS = {ASTER: "/fapi/v1/order", BACKPACK: "/api/v1/order"}
LIVE = ("OPENING", "MONITORING", "LIMIT_SET", "CLOSING")
ZERO = Decimal(0)

WINDOW_MS = 2000  # both venues' signature windows: "never placed" is final ~3 s after a kill
READY_TIMEOUT = 60.0  # a recovery slower than this is a violation
POINT_TIMEOUT = 30.0  # how long an armed crash point gets to be reached
STATE_TIMEOUT = 12.0  # how long a state-targeted kill waits for a round in that state
FLATTEN_TIMEOUT = 120.0  # SIGTERM with on_shutdown = "flatten" until the daemon exits
FUNDING_HOURS = "0.01"  # a settlement every 36 s on both venues

# Crash points and the passes (nth) they are armed for: different nth land in different
# rounds, states and orders (entry, stop, take-profit, close; the start-up reconciliation or
# one after a stream reconnect).
CRASH_PLAN: tuple[tuple[str, int], ...] = (
    ("after_intent_commit", 1),
    ("after_intent_commit", 2),
    ("after_intent_commit", 4),
    ("after_send", 1),
    ("after_send", 2),
    ("after_send", 5),
    ("between_entry_legs", 1),
    ("between_entry_legs", 2),
    ("after_stop_fill", 1),
    ("after_stop_fill", 2),
    ("take_profit_resting", 1),
    ("take_profit_resting", 2),
    ("take_profit_repriced", 1),
    ("take_profit_repriced", 2),
    ("closing_after_cancel", 1),
    ("closing_after_cancel", 2),
    ("closing_after_cancel", 3),
    ("inside_reconcile", 1),
    ("inside_reconcile", 2),
)
assert {p for p, _ in CRASH_PLAN} == POINTS, "every crash point is in the plan"

# Random kills: at a moment when a round is in a given state, during start-up (before or
# inside the recovery), at a random time, right after a stream reconnect (mid-reconciliation),
# shortly after a one-shot wire fault on order placement, while or after a late-delivered
# order is held by its venue, while an operator's `hedgectl close` is being applied, while
# a SIGTERM with on_shutdown = "flatten" closes the rounds, or with legs open, after which the
# price is driven past a backstop so that it fires while no daemon runs.
RANDOM_KINDS: tuple[str, ...] = (
    "state:OPENING",
    "state:MONITORING",
    "state:LIMIT_SET",
    "state:CLOSING",
    "startup",
    "timed",
    "reconnect",
    "fault",
    "late",
    "operator",
    "shutdown",
    "backstop",
)
# No answer; the venue places the order 1.5 s later, inside its window, by when a daemon that
# took the "not found" for "never placed" would have acted on that.
LATE_INSIDE: dict[str, Any] = {"kind": "late", "seconds": 1.5}
LATE_TIMEOUT = 30.0  # how long a late fault gets to catch an order (a round lasts <= 8 s)
FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "accept_then_timeout"},
    {"kind": "error_5xx"},
    {"kind": "drop"},
    {"kind": "latency", "seconds": 0.5},
    {"kind": "partial", "fraction": "0.5"},
    {"kind": "reject"},
    {"kind": "rate_limit"},
    LATE_INSIDE,
    {"kind": "late", "seconds": 3.0},  # past the window: the venue refuses it
)


# -- processes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    v1_key: str
    v1_secret: str
    bp_public: str
    bp_secret: str

    @classmethod
    def new(cls) -> Keys:
        bp_secret, bp_public = new_keypair()
        return cls(secrets.token_hex(16), secrets.token_hex(32), bp_public, bp_secret)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env.pop("NOTIFY_SOCKET", None)
    env["COLUMNS"] = "240"  # hedgectl's table: no wrapped reasons
    return env | extra


def _http(url: str, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


class Sim:
    """`hedged sim` as its own process, exchange state kept in `state`."""

    def __init__(
        self,
        workdir: Path,
        keys: Keys,
        seed: int,
        *,
        volatility: str = "30",
        tick_seconds: str = "0.05",
        funding_hours: str = FUNDING_HOURS,
        more_keys: Sequence[Keys] = (),
        pairs: Sequence[tuple[str, str]] = (),
    ) -> None:
        """`more_keys`: further keys on the same account (a daemon each, told apart);
        `pairs`: the (Aster, Backpack) symbols quoted, if not the one pair of `SYMBOLS`;
        `funding_hours`: both venues settle funding this often, so rounds cross settlements
        (and their PnL invariant covers funding) within a run."""
        self.workdir = workdir
        self.state = workdir / "sim-state.json"
        accounts = workdir / "accounts.toml"
        accounts.write_text(
            "".join(
                f"[[account]]\nname = '{ACCOUNT}'\nbalance = '1000000'\n"
                f"aster_api_key = '{k.v1_key}'\naster_api_secret = '{k.v1_secret}'\n"
                f"backpack_public_key = '{k.bp_public}'\n"
                for k in (keys, *more_keys)
            )
        )
        self.keys = keys
        self._log = (workdir / "sim.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "hedged.cli", "sim"),
                *("--accounts", str(accounts), "--state", str(self.state)),
                *("--seed", str(seed), "--volatility", volatility),
                *("--tick-seconds", tick_seconds),
                *("--funding-hours", funding_hours),
                *(a for aster, backpack in pairs for a in ("--pair", f"{aster}:{backpack}")),
            ],
            env=clean_env(),
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        try:
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], 60)
            if not ready:
                raise RuntimeError("hedged sim did not print its URLs within 60 s")
            line = self.proc.stdout.readline()
            if not line:
                log = (workdir / "sim.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"hedged sim exited before serving:\n{log}")
            self.urls: dict[str, str] = json.loads(line)
        except BaseException:
            self.close()
            raise

    def admin(self, venue: str, path: str, method: str = "GET", body: Any = None) -> Any:
        return _http(self.urls[venue] + path, method, body)

    def submissions(self) -> dict[str, dict[str, int]]:
        return {v: self.admin(v, "/_admin/submissions") for v in VENUES}

    def arm_fault(self, venue: str, spec: Mapping[str, Any]) -> None:
        body = {"path": ORDER_PATHS[venue], "method": "POST", "times": 1, **spec}
        self.admin(venue, "/_admin/faults", "POST", body)

    def held(self, venue: str) -> int:
        """Late-delivered requests the venue holds and has not processed yet."""
        held: int = self.admin(venue, "/_admin/faults")["held"]
        return held

    def clear_faults(self) -> None:
        for v in VENUES:
            self.admin(v, "/_admin/faults", "DELETE")

    def disconnect_streams(self, venue: str) -> None:
        self.admin(venue, "/_admin/ws/disconnect", "POST", {})

    def saved(self) -> dict[str, Any]:
        """The exchange state file (final once the simulator has stopped; written at the
        first order)."""
        if not self.state.exists():
            return {v: {"orders": [], "fills": [], "positions": []} for v in VENUES}
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data

    def place_foreign(self, side: str, qty: str, client_id: str) -> dict[str, Any]:
        """A MARKET order on Aster that is none of the daemon's (V1 HMAC signed, as a person
        trading on the same account by hand would send it)."""
        params = [
            ("symbol", SYMBOLS[ASTER]),
            ("side", side),
            ("type", "MARKET"),
            ("quantity", qty),
            ("newClientOrderId", client_id),
        ]
        body = sign_v1(params, self.keys.v1_secret, int(time.time() * 1000), 5000)
        request = urllib.request.Request(
            self.urls[ASTER] + ORDER_PATHS[ASTER], data=body.encode(), method="POST"
        )
        request.add_header("X-MBX-APIKEY", self.keys.v1_key)
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(request, timeout=10) as r:
            answer: dict[str, Any] = json.loads(r.read())
            return answer

    def stop(self) -> None:
        """SIGTERM: the simulator writes its state file one last time and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._log.close()


class Daemon:
    """One `hedged run` process. Its `NOTIFY_SOCKET` is a datagram socket this object binds
    and drains (a full socket would block the daemon's sd_notify)."""

    def __init__(self, config: Path, sock_path: Path, log: IO[bytes], crash_at: str | None):
        self.crash_at = crash_at
        self.statuses: list[tuple[float, str]] = []  # (time.time(), STATUS=) as notified
        self.killed_by_us = False
        # seconds from spawn to READY=1 as the leader (a standby says READY=1 too, with
        # STATUS=standby: ...; it leads once the killed daemon's lease has lapsed)
        self.ready_after: float | None = None
        self._ready = threading.Event()
        self._up = threading.Event()  # READY=1 in either role
        self._closing = False
        with contextlib.suppress(FileNotFoundError):
            sock_path.unlink()
        self._sock_path = sock_path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(sock_path))
        self._sock.settimeout(0.1)
        env = clean_env(NOTIFY_SOCKET=str(sock_path))
        if crash_at:
            env["HEDGED_CRASH_AT"] = crash_at
        log.write(f"\n===== hedged run (crash at {crash_at or '-'}) =====\n".encode())
        log.flush()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hedged.cli", "run", "--config", str(config)],
            env=env,
            cwd=config.parent,
            stdout=log,
            stderr=log,
        )
        self._drain = threading.Thread(target=self._listen, daemon=True)
        self._drain.start()

    def _listen(self) -> None:
        while not self._closing:
            try:
                message = self._sock.recv(65536).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            lines = message.split("\n")
            self.statuses += [(time.time(), s[7:]) for s in lines if s.startswith("STATUS=")]
            if "READY=1" in lines:
                self._up.set()
            standby = any(s.startswith("STATUS=standby") for s in lines)
            if "READY=1" in lines and not standby and not self._ready.is_set():
                self.ready_after = time.monotonic() - self.started
                self._ready.set()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_up(self, timeout: float = READY_TIMEOUT) -> bool:
        """Until READY=1, leading or standing by; False if it died or timed out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive:
            if self._up.wait(0.02):
                return True
        return self._up.is_set()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float | None:
        """Seconds from spawn to READY=1, or None if it died or timed out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.02):
                return self.ready_after
            if not self.alive:
                return self.ready_after if self._ready.is_set() else None
        return None

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive:
            self.killed_by_us = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float) -> int | None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def close(self) -> None:
        try:
            if self.alive:
                self.kill()
        finally:
            self._closing = True
            self._drain.join(timeout=2)
            self._sock.close()
            with contextlib.suppress(FileNotFoundError):
                self._sock_path.unlink()


class Slot:
    """One daemon's place among several on one store (failover, a fleet): its own keys,
    configuration and state directory; the process in it is replaced when killed."""

    def __init__(self, name: str, workdir: Path, keys: Keys, configs: dict[str, Path]) -> None:
        self.name = name
        self.workdir = workdir
        self.keys = keys
        self.configs = configs
        self.daemon: Daemon | None = None
        self.pids: list[int] = []

    def spawn(self, log: object, on_shutdown: str = "keep") -> Daemon:
        sock = self.workdir / "notify.sock"
        self.daemon = Daemon(self.configs[on_shutdown], sock, log, None)  # type: ignore[arg-type]
        self.pids.append(self.daemon.proc.pid)
        return self.daemon

    @property
    def running(self) -> bool:
        return self.daemon is not None and self.daemon.alive

    @property
    def pid(self) -> int:
        assert self.daemon is not None
        return self.daemon.proc.pid

    def leading_since(self, after: float) -> float | None:
        """When, after `after`, its daemon first said it leads and has reconciled."""
        return self._said(after, leading=True)

    def standing_by_since(self, after: float) -> float | None:
        return self._said(after, leading=False)

    def _said(self, after: float, *, leading: bool) -> float | None:
        if self.daemon is None:
            return None
        for at, status in list(self.daemon.statuses):
            if at >= after and status.startswith("standby") != leading:
                return at
        return None


def wait_for_value(condition: Callable[[], object], timeout: float) -> object:
    """`condition`'s first true value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    return None


def make_slots(
    workdir: Path, urls: Mapping[str, str], keys: Sequence[Keys], **config: Any
) -> list[Slot]:
    """A slot per key, each with its own directory `node<i>` and configurations
    (`write_configs` with `config`)."""
    slots = []
    for i, k in enumerate(keys):
        home = workdir / f"node{i}"
        home.mkdir(exist_ok=True)
        slots.append(Slot(f"node{i}", home, k, write_configs(home, urls, k, **config)))
    return slots


def verdict_rows(verdicts: Sequence[Verdict]) -> list[tuple[str, str]]:
    """The summary's rows every torture shares: rounds, duplicates, orphan exposure."""
    return [
        ("rounds completed (DONE)", str(sum(v.rounds["DONE"] for v in verdicts))),
        ("  PnL checked against venue fills", str(sum(v.pnl_checked for v in verdicts))),
        ("rounds HALTED", str(sum(v.rounds["HALTED"] for v in verdicts))),
        ("duplicates (client id sent twice)", str(sum(v.duplicates for v in verdicts))),
        ("orphan exposure (base units)", str(sum(v.orphan_exposure for v in verdicts))),
    ]


def summary_table(title: str, rows: Sequence[tuple[str, str]], violations: Sequence[str]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * (width + 12)]
    lines += [f"{k:<{width}}  {v:>9}" for k, v in rows]
    lines += [f"VIOLATION {v}" for v in violations[:50]]
    return "\n".join(lines)


def close_slots(slots: Sequence[Slot]) -> None:
    """Every daemon of the slots gone, a frozen one woken first."""
    for slot in slots:
        if slot.daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGCONT)
            slot.daemon.close()


def write_configs(
    workdir: Path,
    urls: Mapping[str, str],
    keys: Keys,
    *,
    max_round_seconds: int = 8,
    max_concurrent_rounds: int = 2,
    lease_seconds: str = "1",
    daemon_extra: str = "",
    direction: str = "aster_short",
    pairs: Sequence[tuple[str, str]] = (),
    poll_interval_seconds: int = 1,
) -> dict[str, Path]:
    """The daemon's configuration ("keep" and "flatten" on shutdown) and its owner-only
    credentials file. `lease_seconds`: how long a killed daemon's lease keeps its successor
    waiting. `daemon_extra`: more TOML, after the `[daemon]` table's keys. `direction`: which
    venue holds the rounds' short (`strategy.direction`). `pairs`: `[[pair]]` tables of
    these (Aster, Backpack) symbols instead of the one `[pair]` of `SYMBOLS`.
    `poll_interval_seconds`: the slow timer, which reads each symbol's open orders."""
    tables = (
        "".join(f"[[pair]]\naster_symbol = '{a}'\nbackpack_symbol = '{b}'\n" for a, b in pairs)
        or f"[pair]\naster_symbol = '{SYMBOLS[ASTER]}'\nbackpack_symbol = '{SYMBOLS[BACKPACK]}'\n"
    )
    creds = workdir / "credentials.toml"
    creds.write_text(
        f"[aster]\napi_key = '{keys.v1_key}'\napi_secret = '{keys.v1_secret}'\n"
        f"[backpack]\napi_key = '{keys.bp_public}'\napi_secret = '{keys.bp_secret}'\n"
    )
    creds.chmod(0o600)
    state_dir = workdir / "state"
    configs = {}
    for on_shutdown in ("keep", "flatten"):
        path = workdir / f"hedged-{on_shutdown}.toml"
        path.write_text(
            "[strategy]\nposition_size_usdt = 25\nmode = 'continuous'\n"
            f"max_round_seconds = {max_round_seconds}\ncooldown_seconds = 0\n"
            f"max_concurrent_rounds = {max_concurrent_rounds}\n"
            # concurrent rounds run only without venue-side stops (a configuration error else)
            f"backstop_stop = {'0' if max_concurrent_rounds > 1 else '0.02'}\n"
            "daily_loss_limit_usdt = 1000000\n"
            f"poll_interval_seconds = {poll_interval_seconds}\n"
            # the take-profit adapts: re-priced every second, post-only at the touch at the end
            "take_profit_decay_to = 0.002\nreprice_seconds = 1\nexit_as_maker_seconds = 2\n"
            f"on_shutdown = '{on_shutdown}'\ndirection = '{direction}'\n"
            f"{tables}[aster]\nbase_url = '{urls[ASTER]}'\n"
            f"ws_url = '{urls[ASTER].replace('http', 'ws')}'\n"
            f"auth = 'v1'\nrecv_window_ms = {WINDOW_MS}\n"
            f"[backpack]\nbase_url = '{urls[BACKPACK]}'\n"
            f"ws_url = '{urls[BACKPACK].replace('http', 'ws')}'\nwindow_ms = {WINDOW_MS}\n"
            f"[credentials]\nsource = 'file'\nfile = '{creds}'\n"
            f"[daemon]\nstate_dir = '{state_dir}'\nlease_seconds = {lease_seconds}\n"
            f"{daemon_extra}"
        )
        configs[on_shutdown] = path
    return configs


class Peek:
    """The daemon's database read while it runs (SQLite WAL: a reader never blocks it)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._con: sqlite3.Connection | None = None

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self._con is None:
            if not self.db.exists():
                return []
            self._con = sqlite3.connect(self.db, timeout=5, check_same_thread=False)
        try:
            return self._con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # not created yet, or busy
            return []

    def live_states(self) -> list[str]:
        marks = ",".join("?" * len(LIVE))
        sql = f"SELECT state FROM rounds WHERE state IN ({marks}) ORDER BY id"
        return [s for (s,) in self._query(sql, *LIVE)]

    def live_rounds(self) -> list[int]:
        marks = ",".join("?" * len(LIVE))
        sql = f"SELECT id FROM rounds WHERE state IN ({marks}) ORDER BY id"
        return [int(i) for (i,) in self._query(sql, *LIVE)]

    def states(self) -> Counter[str]:
        return Counter(s for (s,) in self._query("SELECT state FROM rounds"))

    def resting_backstops(self) -> list[tuple[str, Decimal]]:
        """(side, trigger) of the backstops the store has as resting at a venue."""
        rows = self._query(
            "SELECT side, trigger_price FROM orders WHERE purpose = 'BACKSTOP' "
            "AND status IN ('NEW', 'PARTIALLY_FILLED')"
        )
        return [(side, Decimal(trigger)) for side, trigger in rows]

    def round_count(self) -> int:
        rows = self._query("SELECT COUNT(*) FROM rounds")
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


@contextlib.contextmanager
def opened_store(db: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{db}")
    try:
        yield store
    finally:
        store.close()


def hedgectl(config: Path, *args: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "hedged.ctl", *args, "--config", str(config)],
        env=clean_env(),
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.stdout + run.stderr


# -- a campaign: many kills on one simulator ------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """One daemon lifetime, ended by a SIGKILL (the crash point's or the harness's)."""

    kind: str  # "point" or one of RANDOM_KINDS
    point: str | None = None
    nth: int = 1

    @property
    def label(self) -> str:
        return f"{self.point}:{self.nth}" if self.kind == "point" else self.kind


@dataclass(frozen=True)
class Kill:
    episode: Episode
    by_point: bool  # the armed crash point fired (else the harness sent SIGKILL)
    states: tuple[str, ...]  # the live rounds' states as stored at the kill
    ready_after: float | None  # this daemon's spawn -> READY=1 (None: killed before)


@dataclass
class CampaignResult:
    seed: int
    kills: list[Kill] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)  # spawn -> READY after a kill
    late_held: int = 0  # "late" episodes whose venue came to hold an order of the daemon
    late_missed: list[str] = field(default_factory=list)  # why one did not
    backstops_fired: int = 0  # backstops the price was driven through while no daemon ran
    verdict: Verdict = field(default_factory=Verdict)
    wall: float = 0.0

    @property
    def points_hit(self) -> Counter[str]:
        return Counter(k.episode.point or "" for k in self.kills if k.by_point)

    @property
    def kill_states(self) -> Counter[str]:
        c: Counter[str] = Counter()
        for k in self.kills:
            for s in set(k.states) or {"no round"}:
                c[s] += 1
        return c


def plan(rng: random.Random, kills: int, crash_plan: Sequence[tuple[str, int]]) -> list[Episode]:
    """`kills` episodes: every (point, nth) of `crash_plan` (a random part of it if `kills`
    is smaller), the rest random, shuffled."""
    points = list(crash_plan)
    if len(points) > kills:
        points = rng.sample(points, kills)
    episodes = [Episode("point", p, n) for p, n in points]
    kinds = list(RANDOM_KINDS)
    while len(episodes) < kills:
        rng.shuffle(kinds)
        episodes += [Episode(k) for k in kinds[: kills - len(episodes)]]
    rng.shuffle(episodes)
    return episodes


class Campaign:
    def __init__(
        self,
        workdir: Path,
        seed: int,
        kills: int,
        *,
        crash_plan: Sequence[tuple[str, int]] = CRASH_PLAN,
        max_concurrent_rounds: int = 2,
        max_round_seconds: int = 8,
        wall_limit: float = 900.0,
        direction: str = "aster_short",
    ) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.result = CampaignResult(seed)
        self.episodes = plan(self.rng, kills, crash_plan)
        self.max_concurrent_rounds = max_concurrent_rounds
        self.max_round_seconds = max_round_seconds
        self.wall_limit = wall_limit
        self.direction = direction
        self.db = workdir / "state" / "hedged.db"
        self._spawned = 0

    def _spawn(self, config: Path, crash_at: str | None = None) -> Daemon:
        self._spawned += 1
        sock = self.workdir / f"n{self._spawned % 2}.sock"
        return Daemon(config, sock, self._log, crash_at)

    def run(self) -> CampaignResult:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys = Keys.new()
        self._log = (self.workdir / "daemon.log").open("ab")
        sim = Sim(self.workdir, keys, self.result.seed)
        self.peek = Peek(self.db)
        try:
            self.sim = sim
            self.configs = write_configs(
                self.workdir,
                sim.urls,
                keys,
                max_round_seconds=self.max_round_seconds,
                max_concurrent_rounds=self.max_concurrent_rounds,
                direction=self.direction,
            )
            for i, episode in enumerate(self.episodes):
                if time.monotonic() - started > self.wall_limit:
                    self._violation(f"wall limit {self.wall_limit}s: stopped early")
                    break
                self._episode(episode, recovery=i > 0)  # the first start is a clean one
            self._finish()
        finally:
            self.peek.close()
            sim.close()
            self._log.close()
        self.result.wall = time.monotonic() - started
        return self.result

    def _violation(self, what: str) -> None:
        self.result.verdict.violations.append(what)

    def _record_ready(self, d: Daemon, after_kill: bool) -> float | None:
        ready = d.wait_ready()
        if ready is None and d.alive:
            self._violation(f"no READY=1 within {READY_TIMEOUT}s (crash at {d.crash_at})")
        if ready is not None and after_kill:
            self.result.recoveries.append(ready)
        return ready

    def _episode(self, ep: Episode, recovery: bool) -> None:
        rng = self.rng
        crash_at = f"{ep.point}:{ep.nth}" if ep.kind == "point" else None
        config = self.configs["flatten" if ep.kind == "shutdown" else "keep"]
        d = self._spawn(config, crash_at)
        try:
            ready: float | None = None
            if ep.kind == "startup":
                time.sleep(rng.uniform(0.2, 3.0))
                ready = d.ready_after
                if ready is not None and recovery:
                    self.result.recoveries.append(ready)
            else:
                ready = self._record_ready(d, after_kill=recovery)
            if ep.kind == "point":
                self._await_point(d, ep)
            elif ep.kind.startswith("state:"):
                self._await_state(d, ep.kind.removeprefix("state:"))
                time.sleep(rng.uniform(0, 0.15))
            elif ep.kind == "timed":
                time.sleep(rng.uniform(0.05, 3.0))
            elif ep.kind == "reconnect":
                time.sleep(rng.uniform(0, 1.0))
                with contextlib.suppress(OSError):
                    self.sim.disconnect_streams(rng.choice(VENUES))
                time.sleep(rng.uniform(0, 1.0))
            elif ep.kind == "fault":
                with contextlib.suppress(OSError):
                    self.sim.arm_fault(rng.choice(VENUES), rng.choice(FAULTS))
                time.sleep(rng.uniform(0.5, 4.0))
            elif ep.kind == "late":
                self.result.late_held += self._await_late(d, rng.choice(VENUES))
                time.sleep(rng.uniform(0, 2.5))  # during the hold, or after it
            elif ep.kind == "operator":
                self._await_state(d, rng.choice(("OPENING", "MONITORING", "LIMIT_SET")))
                live = self.peek.live_rounds()
                if live:
                    hedgectl(self.configs["keep"], "close", str(rng.choice(live)), "--timeout", "0")
                time.sleep(rng.uniform(0, 1.5))
            elif ep.kind == "shutdown":
                time.sleep(rng.uniform(0.2, 2.0))
                d.proc.send_signal(signal.SIGTERM)
                time.sleep(rng.uniform(0, 0.5))
            elif ep.kind == "backstop":
                self._await_state(d, rng.choice(("MONITORING", "LIMIT_SET")))
                time.sleep(rng.uniform(0, 0.5))
            exited = d.proc.poll()
            if exited is not None and exited != -signal.SIGKILL and ep.kind != "shutdown":
                self._violation(f"daemon exited {exited} on its own ({ep.label}); see daemon.log")
            d.kill()
            if d.killed_by_us or exited == -signal.SIGKILL:
                by_point = ep.kind == "point" and not d.killed_by_us
                states = tuple(self.peek.live_states())
                self.result.kills.append(Kill(ep, by_point, states, ready))
            elif exited != 0:
                self._violation(f"daemon exited {exited} after SIGTERM ({ep.label})")
        finally:
            d.close()
        if ep.kind == "backstop":
            self.result.backstops_fired += self._fire_a_backstop()
        self._after_kill(ep)

    def _fire_a_backstop(self) -> bool:
        """With no daemon running: move the price 1 % past a resting backstop's trigger
        (the venue fires it); whether there was one."""
        resting = self.peek.resting_backstops()
        if not resting:
            return False
        side, trigger = self.rng.choice(resting)
        beyond = Decimal("1.01") if side == "BUY" else Decimal("0.99")
        with contextlib.suppress(OSError):
            self.sim.admin(ASTER, "/_admin/price", "POST", {"price": str(trigger * beyond)})
            return True
        return False

    def _await_point(self, d: Daemon, ep: Episode) -> None:
        deadline = time.monotonic() + POINT_TIMEOUT
        next_reconnect = time.monotonic() + 1.0
        while d.alive and time.monotonic() < deadline:
            # A second reconciliation only happens after a stream reconnects: provoke one.
            if ep.point == "inside_reconcile" and time.monotonic() >= next_reconnect:
                with contextlib.suppress(OSError):
                    self.sim.disconnect_streams(ASTER)
                next_reconnect = time.monotonic() + 2.0
            time.sleep(0.02)

    def _await_late(self, d: Daemon, venue: str) -> bool:
        """Arm a late delivery inside the window on `venue`; whether it came to hold an
        order (returns once it does). When it did not, the campaign notes why."""
        try:
            self.sim.arm_fault(venue, LATE_INSIDE)
            deadline = time.monotonic() + LATE_TIMEOUT
            while d.alive and time.monotonic() < deadline:
                if self.sim.held(venue):
                    return True
                time.sleep(0.02)
            why = "the daemon died" if not d.alive else f"no order in {LATE_TIMEOUT:.0f} s"
        except OSError as e:
            why = f"simulator: {e}"
        self.result.late_missed.append(f"{venue}: {why}; live rounds {self.peek.live_states()}")
        return False

    def _await_state(self, d: Daemon, state: str) -> None:
        deadline = time.monotonic() + STATE_TIMEOUT
        while d.alive and time.monotonic() < deadline:
            if state in self.peek.live_states():
                return
            time.sleep(0.01)

    def _after_kill(self, ep: Episode) -> None:
        """With the daemon dead: (1) no client id sent twice, (3) nothing open of a DONE
        round (the simulator's state file is current: it is rewritten on every change)."""
        try:
            submissions = self.sim.submissions()
            if not self.db.exists():  # killed before it made its database
                verdict = check_submissions(submissions)
            else:
                with opened_store(self.db) as store:
                    records = VenueRecords(ACCOUNT, SYMBOLS, self.sim.saved(), submissions)
                    verdict = check_invariants(store, records, final=False)
        except (OSError, ValueError) as e:
            self._violation(f"after {ep.label}: cannot check: {e}")
            return
        self.result.verdict.violations += [f"after {ep.label}: {v}" for v in verdict.violations]

    def _finish(self) -> None:
        """Flatten every round, stop the simulator, check all invariants."""
        self.sim.clear_faults()
        d = self._spawn(self.configs["flatten"])
        try:
            self._record_ready(d, after_kill=True)
            time.sleep(1.0)
            code = d.terminate(FLATTEN_TIMEOUT)
            if code != 0:
                self._violation(f"flattening daemon: exit {code} (None: still running)")
        finally:
            d.close()
        submissions = self.sim.submissions()
        self.sim.stop()
        with opened_store(self.db) as store:
            records = VenueRecords(ACCOUNT, SYMBOLS, self.sim.saved(), submissions)
            verdict = check_invariants(store, records)
        self.result.verdict.conclude(verdict)


def run_campaign(workdir: Path, seed: int, kills: int, **kwargs: Any) -> CampaignResult:
    return Campaign(workdir, seed, kills, **kwargs).run()


# -- behind the daemon's back ---------------------------------------------------------------


@dataclass
class ForeignResult:
    verdict: Verdict
    status: str  # `hedgectl status` after the restart
    halted_reasons: list[str]
    blocked: str | None
    rounds_before: int
    rounds_after: int


def foreign_exposure(workdir: Path, seed: int) -> ForeignResult:
    """A position opened on Aster by an order that no round owns: the daemon must halt the
    pair's live rounds, refuse to open more, and say why — on a stream reconnect and again
    after a kill -9 and restart. A calm price keeps the round open meanwhile."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = Keys.new()
    log = (workdir / "daemon.log").open("ab")
    sim = Sim(workdir, keys, seed, volatility="0.01")
    peek = Peek(workdir / "state" / "hedged.db")
    daemons: list[Daemon] = []
    foreign_id = f"manual-{seed}"
    try:
        configs = write_configs(workdir, sim.urls, keys, max_round_seconds=120)
        d = Daemon(configs["keep"], workdir / "n0.sock", log, None)
        daemons.append(d)
        if d.wait_ready() is None:
            raise RuntimeError("daemon did not start; see daemon.log")
        _wait_for(lambda: "MONITORING" in peek.live_states(), 30, "a round in MONITORING")
        sim.place_foreign("SELL", "0.5", foreign_id)
        sim.disconnect_streams(ASTER)  # the reconnect runs the reconciliation
        _wait_for(lambda: "HALTED" in peek.states(), 30, "a HALTED round")
        d.kill()
        d = Daemon(configs["keep"], workdir / "n1.sock", log, None)
        daemons.append(d)
        if d.wait_ready() is None:
            raise RuntimeError("daemon did not recover; see daemon.log")
        rounds_before = peek.round_count()
        time.sleep(3.0)  # long enough to open a round, were it allowed to
        rounds_after = peek.round_count()
        status = hedgectl(configs["keep"], "status")
        if d.terminate(30) != 0:
            raise RuntimeError("daemon did not stop on SIGTERM")
        submissions = sim.submissions()
        sim.stop()
        with opened_store(peek.db) as store:
            records = VenueRecords(ACCOUNT, SYMBOLS, sim.saved(), submissions)
            verdict = check_invariants(
                store, records, foreign={ASTER: {foreign_id}}, halted_ok=True
            )
            halted = [r.reason or "" for r in store.active_rounds() if r.state == "HALTED"]
            blocked = store.get_meta("blocked") or None
        return ForeignResult(verdict, status, halted, blocked, rounds_before, rounds_after)
    finally:
        for daemon in daemons:
            daemon.close()
        peek.close()
        sim.close()
        log.close()


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"no {what} within {timeout}s")


# -- the summary ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(results: Sequence[CampaignResult]) -> str:
    kills = [k for r in results for k in r.kills]
    recoveries = [t for r in results for t in r.recoveries]
    violations = [v for r in results for v in r.verdict.violations]
    rounds: Counter[str] = sum((r.verdict.rounds for r in results), Counter())
    points: Counter[str] = sum((r.points_hit for r in results), Counter())
    states: Counter[str] = sum((r.kill_states for r in results), Counter())
    labels = Counter(k.episode.kind if k.episode.kind != "point" else "crash point" for k in kills)
    rows = [
        ("campaigns", str(len(results))),
        ("kills", str(len(kills))),
        ("  by crash point (fired)", str(sum(k.by_point for k in kills))),
        ("  by the harness", str(sum(not k.by_point for k in kills))),
        ("rounds completed (DONE)", str(rounds["DONE"])),
        ("  of which traded", str(sum(r.verdict.traded for r in results))),
        ("  PnL checked against venue fills", str(sum(r.verdict.pnl_checked for r in results))),
        ("  of which with funding", str(sum(r.verdict.funded for r in results))),
        ("rounds HALTED", str(rounds["HALTED"])),
        ("duplicates (client id sent twice)", str(sum(r.verdict.duplicates for r in results))),
        (
            "orphan exposure (base units)",
            str(sum((r.verdict.orphan_exposure for r in results), ZERO)),
        ),
        ("late deliveries held by a venue", str(sum(r.late_held for r in results))),
        ("backstops fired while down", str(sum(r.backstops_fired for r in results))),
        ("invariant violations", str(len(violations))),
        ("recoveries measured", str(len(recoveries))),
        ("recovery max (s)", f"{max(recoveries, default=0.0):.2f}"),
        ("recovery p99 (s)", f"{percentile(recoveries, 99):.2f}"),
        ("recovery p50 (s)", f"{percentile(recoveries, 50):.2f}"),
        ("campaign time (s, summed)", f"{sum(r.wall for r in results):.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["crash torture summary", "-" * (width + 12)]
    lines += [f"{k:<{width}}  {v:>9}" for k, v in rows]
    lines.append("kills by crash point (fired): " + _counts(points, sorted(POINTS)))
    lines.append("kills by kind: " + _counts(labels, sorted(labels)))
    lines.append("kills by round state at the kill: " + _counts(states, [*LIVE, "no round"]))
    for v in violations[:50]:
        lines.append(f"VIOLATION {v}")
    return "\n".join(lines)


def _counts(counter: Mapping[str, int], keys: Sequence[str]) -> str:
    return ", ".join(f"{k} {counter.get(k, 0)}" for k in keys)
