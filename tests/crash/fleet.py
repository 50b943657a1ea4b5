"""Fleet torture: several `hedged run` processes share one PostgreSQL store's books, each
book (pair) traded by one of them, while they are struck.

`daemons` processes run with `[daemon] fleet = true` on the same `[[pair]]` tables, against
one `hedged sim` process quoting every pair, each signing with keys of its own on one
account (so the simulators record whose request arrived when, for which symbol). Strikes at
random moments: kill -9 (its books must be taken by the others; a new process is started in
its place and gets its share back), SIGSTOP until its books are taken, then SIGCONT (it must
send nothing more for them, step down and rejoin), and a new daemon joining (it gets its
share from the fullest ones, then stops cleanly and gives its books back). At the end one
daemon takes every book and flattens, and the kill -9 invariants are checked from the
venues' records, with one trader per book: every request a venue accepted came from the
daemon holding its book at that moment (`holders.py`).

Used by `test_fleet_torture.py` (a short seeded run in CI) and `fleet_soak.py`.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import (
    ACCOUNT,
    ASTER,
    BACKPACK,
    FLATTEN_TIMEOUT,
    READY_TIMEOUT,
    VENUES,
    Keys,
    Sim,
    Slot,
    close_slots,
    make_slots,
    percentile,
    summary_table,
    verdict_rows,
)
from holders import HolderCheck, check_holders
from invariants import VenueRecords, Verdict, check_invariants

from hedged.leadership import book_of
from hedged.store import Store

BASES = (
    *("SOL", "ETH", "BTC", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC"),
    *("BNB", "SUI", "APT", "ARB", "OP", "NEAR", "ATOM", "TIA", "SEI", "INJ"),
)
KINDS = ("kill", "freeze", "join")
MOVE_TIMEOUT = 30.0  # books not held again, or not shared fairly, this long after: a violation


def pairs_of(n: int) -> list[tuple[str, str]]:
    return [(f"{b}USDT", f"{b}_USDC_PERP") for b in BASES[:n]]


@dataclass
class Strike:
    kind: str
    books: int  # how many books the struck daemon held (join: taken by the newcomer)
    takeover: float | None = None  # seconds until every book of the struck one was held again
    rebalanced: float | None = None  # seconds until the books were shared fairly again


@dataclass
class FleetResult:
    seed: int
    daemons: int
    pairs: int
    strikes: list[Strike] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    holders: HolderCheck = field(default_factory=HolderCheck)
    wall: float = 0.0

    @property
    def takeovers(self) -> list[float]:
        return [s.takeover for s in self.strikes if s.takeover is not None]

    @property
    def rebalances(self) -> list[float]:
        return [s.rebalanced for s in self.strikes if s.rebalanced is not None]


def _wait(condition: Callable[[], object], timeout: float) -> float | None:
    """Seconds until `condition` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


class FleetTorture:
    def __init__(
        self,
        workdir: Path,
        seed: int,
        strikes: int,
        store_url: str,
        *,
        daemons: int = 3,
        pairs: int = 12,
        lease_seconds: str = "2",
        wall_limit: float = 600.0,
    ) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.url = store_url
        self.n = daemons
        self.pairs = pairs_of(pairs)
        self.books = [book_of(a, b) for a, b in self.pairs]
        self.lease_seconds = lease_seconds
        self.wall_limit = wall_limit
        self.result = FleetResult(seed, daemons, pairs)
        # every kind once first, then at random
        self.plan = [*KINDS[:strikes], *(self.rng.choice(KINDS) for _ in range(strikes - 3))]

    def _violation(self, what: str) -> None:
        self.result.verdict.violations.append(what)

    def run(self) -> FleetResult:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys = [Keys.new() for _ in range(self.n + 1)]  # the last: a daemon joining
        self._log = (self.workdir / "daemons.log").open("ab")
        # Every daemon on this host shares Aster's request-weight budget per IP (2,400 a
        # minute); each round that ends, each book taken and each settlement reads funding
        # history (weight 30 a symbol), and the slow timer each symbol's open orders: rounds
        # of 45 s on calmer prices, the default 5-s timer and hourly funding keep the books
        # moving within it (the kill -9 soak covers funding).
        self.sim = Sim(
            self.workdir,
            keys[0],
            self.result.seed,
            more_keys=keys[1:],
            pairs=self.pairs,
            volatility="12",
            tick_seconds="0.1",
            funding_hours="1",
        )
        self.slots: list[Slot] = []
        try:
            self.slots = make_slots(
                self.workdir,
                self.sim.urls,
                keys,
                pairs=self.pairs,
                max_round_seconds=45,
                max_concurrent_rounds=1,
                poll_interval_seconds=5,  # each symbol's open orders: once in 5 s
                lease_seconds=self.lease_seconds,
                daemon_extra=f"fleet = true\n[store]\nurl = '{self.url}'\n",
            )
            self.store = Store(self.url)
            for slot in self.slots[: self.n]:
                self._start(slot)
            if self._until_fair(self.n) is None:
                self._violation(f"{self.n} daemons did not share the books at start")
            for kind in self.plan:
                if time.monotonic() - started > self.wall_limit:
                    self._violation(f"wall limit {self.wall_limit}s: stopped early")
                    break
                time.sleep(self.rng.uniform(0.5, 3.0))  # rounds move on meanwhile
                getattr(self, f"_{kind}")()
            self._finish()
        finally:
            close_slots(self.slots)
            with contextlib.suppress(AttributeError):
                self.store.close()
            self.sim.close()
            self._log.close()
        self.result.wall = time.monotonic() - started
        return self.result

    def _start(self, slot: Slot, on_shutdown: str = "keep") -> None:
        daemon = slot.spawn(self._log, on_shutdown)
        if not daemon.wait_up(READY_TIMEOUT):
            self._violation(f"{slot.name}: no READY=1 within {READY_TIMEOUT}s")

    # -- what the store shows ------------------------------------------------------------

    def _held(self) -> dict[str, int | None]:
        """Each book's holder's pid (None: free or lapsed)."""
        rows, now = self.store.leases()
        held: dict[str, int | None] = dict.fromkeys(self.books)
        held |= {r.book: r.pid for r in rows if r.holder is not None and r.expires_ms > now}
        return held

    def _books_of(self, pid: int) -> list[str]:
        return [b for b, p in self._held().items() if p == pid]

    def _fair(self, daemons: int) -> bool:
        """Every book held, by exactly the running daemons, each within its fair share."""
        held = self._held()
        running = {s.pid for s in self.slots if s.running}
        counts = Counter(held.values())
        least, most = len(self.books) // daemons, -(-len(self.books) // daemons)
        return (
            None not in counts
            and set(counts) == running
            and len(running) == daemons
            and all(least <= n <= most for n in counts.values())
        )

    def _until_fair(self, daemons: int) -> float | None:
        return _wait(lambda: self._fair(daemons), MOVE_TIMEOUT)

    def _taken_from(self, pid: int, books: Sequence[str]) -> Callable[[], bool]:
        def taken() -> bool:
            held = self._held()
            return all(held[b] is not None and held[b] != pid for b in books)

        return taken

    # -- strikes -------------------------------------------------------------------------

    def _victim(self) -> Slot:
        return self.rng.choice([s for s in self.slots[: self.n] if s.running])

    def _kill(self) -> None:
        slot = self._victim()
        books = self._books_of(slot.pid)
        strike = Strike("kill", len(books))
        self.result.strikes.append(strike)
        assert slot.daemon is not None
        slot.daemon.kill()
        strike.takeover = _wait(self._taken_from(slot.pids[-1], books), MOVE_TIMEOUT)
        if strike.takeover is None:
            self._violation(f"kill -9 of {slot.name}: its books were not taken by the others")
        slot.daemon.close()
        self._start(slot)  # a new process in its place gets its share back
        strike.rebalanced = self._until_fair(self.n)
        if strike.rebalanced is None:
            self._violation(f"{slot.name} restarted: the books were not shared again")

    def _freeze(self) -> None:
        slot = self._victim()
        books = self._books_of(slot.pid)
        strike = Strike("freeze", len(books))
        self.result.strikes.append(strike)
        os.kill(slot.pid, signal.SIGSTOP)
        strike.takeover = _wait(self._taken_from(slot.pid, books), MOVE_TIMEOUT)
        if strike.takeover is None:
            self._violation(f"SIGSTOP of {slot.name}: its books were not taken by the others")
        time.sleep(self.rng.uniform(0.2, 2.0))  # the new holders move its rounds on
        os.kill(slot.pid, signal.SIGCONT)
        strike.rebalanced = self._until_fair(self.n)
        if strike.rebalanced is None:
            self._violation(f"{slot.name} woke from SIGSTOP: the books were not shared again")
        if not slot.running:
            self._violation(f"{slot.name} exited after SIGCONT")

    def _join(self) -> None:
        slot = self.slots[self.n]
        self._start(slot)
        strike = Strike("join", 0)
        self.result.strikes.append(strike)
        strike.rebalanced = self._until_fair(self.n + 1)
        if strike.rebalanced is None:
            self._violation(f"{slot.name} joined: it did not get its share")
        strike.books = len(self._books_of(slot.pid))
        time.sleep(self.rng.uniform(0.5, 2.0))
        assert slot.daemon is not None
        code = slot.daemon.terminate(60)  # it gives its books back as it stops
        if code != 0:
            self._violation(f"{slot.name} on SIGTERM: exit {code}")
        if self._until_fair(self.n) is None:
            self._violation(f"{slot.name} left: its books were not shared again")

    # -- the end -------------------------------------------------------------------------

    def _finish(self) -> None:
        """Every daemon stops (exit 0); one more takes every book and flattens; then every
        check."""
        for slot in self.slots:
            if slot.daemon is not None and slot.running:
                code = slot.daemon.terminate(60)
                if code != 0:
                    self._violation(f"{slot.name} on SIGTERM: exit {code}")
        self.sim.clear_faults()
        last = self.slots[0]
        self._start(last, "flatten")
        if _wait(lambda: self._fair(1), MOVE_TIMEOUT) is None:
            self._violation("the flattening daemon did not take every book")
        time.sleep(1.0)
        assert last.daemon is not None
        code = last.daemon.terminate(FLATTEN_TIMEOUT)
        if code != 0:
            self._violation(f"flattening daemon: exit {code} (None: still running)")
        submissions = self.sim.submissions()
        arrivals = {v: self.sim.admin(v, "/_admin/arrivals") for v in VENUES}
        self.sim.stop()
        symbols = {ASTER: [a for a, _ in self.pairs], BACKPACK: [b for _, b in self.pairs]}
        records = VenueRecords(ACCOUNT, symbols, self.sim.saved(), submissions)
        self.result.verdict.conclude(check_invariants(self.store, records))
        book = {
            (v, s): book_of(a, b) for a, b in self.pairs for v, s in ((ASTER, a), (BACKPACK, b))
        }
        slot_of_pid = {pid: s.name for s in self.slots for pid in s.pids}
        keys = {k: s.name for s in self.slots for k in (s.keys.v1_key, s.keys.bp_public)}
        self.result.holders = check_holders(
            self.store,
            arrivals,
            book,
            lambda holder: slot_of_pid.get(int(holder.split(":")[-2])),
            keys,
        )
        self.result.verdict.violations += self.result.holders.foreign


def run_fleet(workdir: Path, seed: int, strikes: int, store_url: str, **kw: object) -> FleetResult:
    return FleetTorture(workdir, seed, strikes, store_url, **kw).run()  # type: ignore[arg-type]


def summary(results: Sequence[FleetResult]) -> str:
    strikes = [s for r in results for s in r.strikes]
    takeovers = [t for r in results for t in r.takeovers]
    rebalances = [t for r in results for t in r.rebalances]
    kinds = Counter(s.kind for s in strikes)
    violations = [v for r in results for v in r.verdict.violations]
    rows = [
        ("runs", str(len(results))),
        ("daemons x pairs", ", ".join(sorted({f"{r.daemons} x {r.pairs}" for r in results}))),
        ("strikes", str(len(strikes))),
        *((f"  {k}", str(n)) for k, n in sorted(kinds.items())),
        ("books taken over (kill, freeze)", str(sum(s.books for s in strikes if s.takeover))),
        ("takeover p50 (s)", f"{percentile(takeovers, 50):.2f}"),
        ("takeover p99 (s)", f"{percentile(takeovers, 99):.2f}"),
        ("takeover max (s)", f"{max(takeovers, default=0.0):.2f}"),
        ("rebalance p50 (s)", f"{percentile(rebalances, 50):.2f}"),
        ("rebalance max (s)", f"{max(rebalances, default=0.0):.2f}"),
        *verdict_rows([r.verdict for r in results]),
        (
            "order requests checked for their book's holder",
            str(sum(r.holders.checked for r in results)),
        ),
        (
            "  from a daemon without the book, accepted",
            str(sum(len(r.holders.foreign) for r in results)),
        ),
        (
            "  ... refused by the signature window",
            str(sum(r.holders.late_refused for r in results)),
        ),
        ("invariant violations", str(len(violations))),
        ("time (s, summed)", f"{sum(r.wall for r in results):.0f}"),
    ]
    return summary_table("fleet torture summary", rows, violations)
