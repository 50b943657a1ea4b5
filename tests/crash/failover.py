"""Failover torture: two daemons on one store, the leader struck again and again.

Two `hedged run` processes share one database (PostgreSQL, as two hosts would, or SQLite, as
two daemons on one host) and one simulated account; each signs with keys of its own, so the
simulators tell whose order requests arrived when (`/_admin/arrivals`). The leader is struck
at random moments in every round state: kill -9 (a new standby is started in its place),
SIGSTOP until the standby has taken over and moved on, then SIGCONT (it must send nothing and
stand by), or (PostgreSQL) every connection of its terminated by `pg_terminate_backend`. At
the end one daemon flattens every round, and the kill -9 invariants are checked from the
venues' records, together with leadership's own: every order request that reached a venue
came from the daemon that held the lease at that moment (the store journals each taking).

Used by `test_failover.py` (a short seeded run in CI) and `failover_soak.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import psycopg
from harness import (
    ACCOUNT,
    ASTER,
    BACKPACK,
    FLATTEN_TIMEOUT,
    LIVE,
    READY_TIMEOUT,
    SYMBOLS,
    VENUES,
    Keys,
    Sim,
    Slot,
    close_slots,
    hedgectl,
    make_slots,
    percentile,
    summary_table,
    verdict_rows,
    wait_for_value,
)
from invariants import VenueRecords, Verdict, check_invariants
from sqlmodel import select

from hedged.leadership import book_of
from hedged.store import EventRow, Store

BOOK = book_of(SYMBOLS[ASTER], SYMBOLS[BACKPACK])
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
STRIKES_SQLITE = ("kill", "freeze")
STRIKES_PG = ("kill", "freeze", "cut")
TAKEOVER_TIMEOUT = 30.0  # a standby slower than this to lead is a violation
STATE_TIMEOUT = 10.0


@dataclass
class Strike:
    kind: str
    state: str  # the round states when it struck ("-" for none)
    takeover: float | None = None  # seconds from the strike to the new leader's first step


@dataclass
class FailoverResult:
    seed: int
    store: str
    strikes: list[Strike] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    foreign_requests: int = 0  # requests accepted from a daemon that did not hold the lease
    late_refused: int = 0  # such requests, signed before a freeze, refused by the window
    status_checked: bool = False  # hedgectl status named the leader and the standby
    wall: float = 0.0

    @property
    def takeovers(self) -> list[float]:
        return [s.takeover for s in self.strikes if s.takeover is not None]


class Failover:
    def __init__(
        self,
        workdir: Path,
        seed: int,
        strikes: int,
        store_url: str,
        *,
        lease_seconds: str = "3",
        wall_limit: float = 900.0,
        every_state_first: bool = True,
    ) -> None:
        """`every_state_first`: the first strikes are each kind in each round state, the
        rest random."""
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.url = store_url
        self.postgres = store_url.startswith("postgresql")
        self.lease_seconds = lease_seconds
        self.wall_limit = wall_limit
        self.result = FailoverResult(seed, "postgres" if self.postgres else "sqlite")
        kinds = STRIKES_PG if self.postgres else STRIKES_SQLITE
        planned: list[tuple[str, str | None]] = (
            [(k, st) for k in kinds for st in LIVE] if every_state_first else []
        )
        self.plan: list[tuple[str, str | None]] = planned[:strikes]
        while len(self.plan) < strikes:
            self.plan.append((self.rng.choice(kinds), self.rng.choice([*LIVE, None])))

    def _violation(self, what: str) -> None:
        self.result.verdict.violations.append(what)

    def run(self) -> FailoverResult:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys = [Keys.new(), Keys.new()]
        self._log = (self.workdir / "daemons.log").open("ab")
        self.sim = Sim(self.workdir, keys[0], self.result.seed, more_keys=keys[1:])
        self.slots: list[Slot] = []
        try:
            self.slots = make_slots(
                self.workdir,
                self.sim.urls,
                keys,
                lease_seconds=self.lease_seconds,
                daemon_extra=f"[store]\nurl = '{self.url}'\n",
            )
            self.store = Store(self.url)
            for slot in self.slots:
                slot.spawn(self._log)
                if slot.daemon is None or not slot.daemon.wait_up():
                    self._violation(f"{slot.name}: no READY=1 within {READY_TIMEOUT}s")
            self._check_status()
            plan = list(self.plan)
            again = len(plan)  # a planned state not reached in time is tried once more, later
            while plan:
                if time.monotonic() - started > self.wall_limit:
                    self._violation(f"wall limit {self.wall_limit}s: stopped early")
                    break
                kind, state = plan.pop(0)
                struck = len(self.result.strikes)
                self._strike(kind, state)
                missed = (
                    state is not None
                    and len(self.result.strikes) > struck
                    and state not in self.result.strikes[-1].state.split(",")
                )
                if missed and again > 0:
                    again -= 1
                    plan.append((kind, state))
            self._finish()
        finally:
            close_slots(self.slots)
            with contextlib.suppress(AttributeError):
                self.store.close()
            self.sim.close()
            self._log.close()
        self.result.wall = time.monotonic() - started
        return self.result

    def _roles(self) -> tuple[Slot, Slot] | None:
        """(leader, standby) as the store has it, once both processes run."""
        held, now = self.store.lease(BOOK)
        if held is None or held.expires_ms <= now:
            return None
        for i, slot in enumerate(self.slots):
            if slot.daemon is not None and slot.daemon.alive and slot.pid == held.pid:
                other = self.slots[1 - i]
                if other.daemon is not None and other.daemon.alive:
                    return slot, other
        return None

    def _check_status(self) -> None:
        """`hedgectl status --json` names the leader the store has, and the standby."""
        roles = wait_for_value(self._roles, TAKEOVER_TIMEOUT)
        if not isinstance(roles, tuple):
            self._violation("no leader with a standby beside it at start")
            return
        leader, standby = roles
        daemon = json.loads(hedgectl(leader.configs["keep"], "status", "--json"))["daemon"]
        if daemon["leader"] is None or daemon["leader"].get("pid") != leader.pid:
            self._violation(f"hedgectl status names {daemon['leader']}, not pid {leader.pid}")
        if standby.pid not in [s["pid"] for s in daemon["standbys"]]:
            self._violation(f"hedgectl status does not list the standby: {daemon['standbys']}")
        self.result.status_checked = True

    def _states(self) -> list[str]:
        return [r.state for r in self.store.active_rounds() if r.state in LIVE]

    def _strike(self, kind: str, state: str | None) -> None:
        """Strike the leader with `kind` once a round is in `state` (None: at a random
        moment)."""
        rng = self.rng
        roles = wait_for_value(self._roles, TAKEOVER_TIMEOUT)
        if not isinstance(roles, tuple):
            self._violation("no leader with a standby beside it")
            return
        leader, standby = roles
        if state is not None:
            wait_for_value(lambda: state in self._states(), STATE_TIMEOUT)
        else:
            time.sleep(rng.uniform(0.1, 3.0))
        strike = Strike(kind, ",".join(self._states()) or "-")
        self.result.strikes.append(strike)
        at = time.time()
        if strike.kind == "kill":
            assert leader.daemon is not None
            leader.daemon.kill()
            strike.takeover = self._takeover(standby, at)
            leader.daemon.close()
            leader.spawn(self._log)
            assert leader.daemon is not None
            if not leader.daemon.wait_up():
                self._violation(f"{leader.name} restarted: no READY=1")
        elif strike.kind == "freeze":
            os.kill(leader.pid, signal.SIGSTOP)
            if not self.postgres and self._frozen_with_the_write_lock(standby, at):
                # SQLite's write lock is a file lock of the frozen process: nobody can
                # commit until it resumes (PostgreSQL ends such a transaction after 1 s).
                strike.kind = "freeze holding SQLite's write lock"
                os.kill(leader.pid, signal.SIGCONT)
                return
            strike.takeover = self._takeover(standby, at)
            time.sleep(rng.uniform(0.2, 2.0))  # the new leader moves the rounds on
            woke = time.time()
            os.kill(leader.pid, signal.SIGCONT)
            if wait_for_value(lambda: leader.standing_by_since(woke), TAKEOVER_TIMEOUT) is None:
                self._violation(f"{leader.name} woke from SIGSTOP and did not stand by")
            assert leader.daemon is not None
            if not leader.daemon.alive:
                self._violation(f"{leader.name} exited after SIGCONT: {leader.daemon.proc.poll()}")
        else:
            terminated = self._terminate_backends(leader.pid)
            time.sleep(rng.uniform(0.5, 2.0))
            if terminated == 0:
                strike.kind = "cut (no connection open)"
        time.sleep(0.2)

    def _frozen_with_the_write_lock(self, standby: Slot, since: float) -> bool:
        """Whether, a lease's time after the freeze, no takeover came because the frozen
        leader holds the database's write lock (a write here cannot get it either)."""
        deadline = since + 3 * float(self.lease_seconds)
        if wait_for_value(lambda: standby.leading_since(since), max(deadline - time.time(), 0.0)):
            return False
        db = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=0.5)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.rollback()
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            db.close()

    def _takeover(self, standby: Slot, since: float) -> float | None:
        led = wait_for_value(lambda: standby.leading_since(since), TAKEOVER_TIMEOUT)
        if not isinstance(led, float):
            self._violation(f"{standby.name} did not take over within {TAKEOVER_TIMEOUT}s")
            return None
        return led - since

    def _terminate_backends(self, pid: int) -> int:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (f"hedged[{pid}]",),
            ).fetchall()
        return len(rows)

    def _finish(self) -> None:
        """Both daemons stop (exit 0), one more flattens every round; then every check."""
        roles = self._roles()
        order = list(reversed(roles)) if roles else self.slots  # the standby first
        for slot in order:
            assert slot.daemon is not None
            os.kill(slot.pid, signal.SIGCONT)
            code = slot.daemon.terminate(60)
            if code != 0:
                self._violation(f"{slot.name} on SIGTERM: exit {code}")
        self.sim.clear_faults()
        flattener = self.slots[0].spawn(self._log, "flatten")
        if flattener.wait_ready() is None:
            self._violation("flattening daemon: no READY=1")
        wait_for_value(lambda: self.slots[0].leading_since(0.0), TAKEOVER_TIMEOUT)
        time.sleep(1.0)
        code = flattener.terminate(FLATTEN_TIMEOUT)
        if code != 0:
            self._violation(f"flattening daemon: exit {code} (None: still running)")
        submissions = self.sim.submissions()
        arrivals = {v: self.sim.admin(v, "/_admin/arrivals") for v in VENUES}
        self.sim.stop()
        records = VenueRecords(ACCOUNT, SYMBOLS, self.sim.saved(), submissions)
        verdict = check_invariants(self.store, records)
        self.result.verdict.conclude(verdict)
        self._check_arrivals(arrivals)

    def _check_arrivals(self, arrivals: dict[str, list[dict[str, object]]]) -> None:
        """Every order request the venues accepted came from the daemon holding the lease
        when it arrived. One signed before its daemon froze and written after it was deposed
        may still arrive: the venue's signature window must have refused it (counted)."""
        takings = sorted(
            (e.at.replace(tzinfo=e.at.tzinfo or UTC).timestamp(), int(json.loads(e.detail)["pid"]))
            for e in self._journal("lease_taken")
        )
        slot_of_pid = {pid: s.name for s in self.slots for pid in s.pids}
        slot_of_key = {s.keys.v1_key: s.name for s in self.slots}
        slot_of_key |= {s.keys.bp_public: s.name for s in self.slots}
        for venue, entries in arrivals.items():
            for a in entries:
                at, key = float(str(a["at"])), str(a["key"])
                before = [pid for t, pid in takings if t <= at]
                holder = slot_of_pid.get(before[-1]) if before else None
                if slot_of_key.get(key) == holder:
                    continue
                status = a["status"]
                if status == "refused" or (isinstance(status, int) and status >= 400):
                    self.result.late_refused += 1
                else:
                    self.result.foreign_requests += 1
                    self._violation(
                        f"{venue} {a['action']} {a['client_id']} at {at:.3f} from "
                        f"{slot_of_key.get(key)} while {holder} held the lease"
                    )

    def _journal(self, kind: str) -> list[EventRow]:
        with self.store.session() as s:
            return list(s.exec(select(EventRow).where(EventRow.kind == kind)))


def run_failovers(
    workdir: Path, seed: int, strikes: int, store_url: str, **kw: object
) -> FailoverResult:
    return Failover(workdir, seed, strikes, store_url, **kw).run()  # type: ignore[arg-type]


def summary(results: Sequence[FailoverResult]) -> str:
    strikes = [s for r in results for s in r.strikes]
    takeovers = [t for r in results for t in r.takeovers]
    kinds = Counter(s.kind for s in strikes)
    violations = [v for r in results for v in r.verdict.violations]
    rows = [
        ("runs", str(len(results))),
        ("strikes on the leader", str(len(strikes))),
        *((f"  {k}", str(n)) for k, n in sorted(kinds.items())),
        *(
            (f"  with a round in {st}", str(sum(st in s.state.split(",") for s in strikes)))
            for st in LIVE
        ),
        ("takeovers measured", str(len(takeovers))),
        ("takeover p50 (s)", f"{percentile(takeovers, 50):.2f}"),
        ("takeover p99 (s)", f"{percentile(takeovers, 99):.2f}"),
        ("takeover max (s)", f"{max(takeovers, default=0.0):.2f}"),
        *verdict_rows([r.verdict for r in results]),
        (
            "requests accepted from a daemon without the lease",
            str(sum(r.foreign_requests for r in results)),
        ),
        (
            "  late ones refused by the signature window",
            str(sum(r.late_refused for r in results)),
        ),
        ("invariant violations", str(len(violations))),
        ("time (s, summed)", f"{sum(r.wall for r in results):.0f}"),
    ]
    return summary_table("failover torture summary", rows, violations)
