"""Leadership: exactly one daemon trades a book (docs/leadership.md).

A daemon holds the book's lease in the store, renewed in the background. Its writes are
fenced by the lease's epoch (`Store.fence`), and each order leaves only if, after it was
signed, the lease is still valid on this process's monotonic clock. A daemon that cannot
renew in time gives the lease up on its own before the store can hand it to another.

A daemon trading several pairs holds one lease row per pair's book. Alone it takes them
together (all or none); in a fleet each daemon takes its fair share of the books
(`hedged.fleet`). Each write checks every book held.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from hedged.fleet import Plan, plan, view_of
from hedged.i18n import _
from hedged.store import Claim, Fence, LeaseRow, Store, utcnow

log = logging.getLogger(__name__)

LEADER, STANDBY = "leader", "standby"
STANDBY_SEEN_MS = 15_000  # a standby that checked in this recently is shown (3 check-ins)


def book_of(aster_symbol: str, backpack_symbol: str) -> str:
    """The name of one pair's book (one account per store)."""
    return f"aster:{aster_symbol}+backpack:{backpack_symbol}"


def this_process(book: str) -> Claim:
    host, pid = socket.gethostname(), os.getpid()
    started = utcnow()
    return Claim(book, f"{host}:{pid}:{time.time_ns()}", host, pid, started)


@dataclass(frozen=True, slots=True)
class Timing:
    """How long a lease lasts, how often its holder renews it and a standby looks at it."""

    ttl: float = 3.0
    # The holder stops sending this long before the store could hand the lease on: room for
    # the holder's and the database's clocks to run at different rates, and for a renewal's
    # answer to arrive late.
    margin: float = 0.75
    check_in: float = 5.0

    @classmethod
    def of(cls, ttl: float) -> Timing:
        return cls(ttl=ttl, margin=ttl / 4)

    @property
    def renew(self) -> float:
        return self.ttl / 6

    @property
    def poll(self) -> float:
        return self.ttl / 12


@dataclass(frozen=True, slots=True)
class Taken:
    lease: LeaseRow
    before: LeaseRow | None
    takeover: bool  # taken from another daemon whose lease lapsed (not released, not new)


NOTHING_TO_DO = Plan((), None)


class Lease:
    """This daemon's hold on its books' leases, one row per book.

    Two policies over one mechanism: alone (the default), a daemon leads every book of its
    configuration together — it takes them all or none, so a second daemon on the store is
    a hot standby for all of them; in a fleet (`[daemon] fleet = true`), it takes the books
    of its fair share one by one and gives one up when another daemon is short
    (`hedged.fleet.plan`). Either way each book it holds is renewed with the others, and
    each write checks every one of them."""

    def __init__(
        self,
        store: Store,
        claim: Claim,
        timing: Timing = Timing(),
        clock: Callable[[], float] = time.monotonic,
        *,
        books: Sequence[str] = (),
        fleet: bool = False,
    ) -> None:
        self.store = store
        self.claim = claim
        self.books = tuple(dict.fromkeys((claim.book, *books)))  # claim.book first
        self.fleet = fleet
        self.timing = timing
        self._clock = clock
        self._epochs: dict[str, int] = {}  # the books held, with their epochs
        self._valid_until = 0.0
        self.lost: str | None = None  # why the lease was lost, until it is taken again
        self.seen: LeaseRow | None = None  # claim.book's lease as last read while standing by
        self.plan = NOTHING_TO_DO  # a fleet's last look, while it asks for a move
        self._checked_in = -float("inf")
        # A fleet counts a daemon live by its check-ins: often enough for a dead one to stop
        # counting about when its leases lapse.
        self._check_in_every = timing.renew if fleet else timing.check_in

    @property
    def ttl_ms(self) -> int:
        return int(self.timing.ttl * 1000)

    @property
    def held(self) -> tuple[str, ...]:
        """The books held, in the configuration's order."""
        return tuple(b for b in self.books if b in self._epochs)

    @property
    def leading(self) -> bool:
        return bool(self._epochs)

    def epoch(self, book: str) -> int | None:
        return self._epochs.get(book)

    def valid(self) -> bool:
        """Whether this daemon may send: it holds its books and cannot have lost them yet."""
        return bool(self._epochs) and self._clock() < self._valid_until

    @property
    def name(self) -> str:
        """The books, as logs and hedgectl name them."""
        books = self.held or self.books
        return books[0] if len(books) == 1 else " ".join(books)

    def fence(self) -> Fence:
        """What this daemon's writes stand on (no book held: every write is refused)."""
        held = self.held
        if not held:
            return Fence(self.claim.book, self.claim.holder, -1, self.valid)
        also = tuple((b, self._epochs[b]) for b in held[1:])
        return Fence(held[0], self.claim.holder, self._epochs[held[0]], self.valid, also)

    def lose(self, why: str) -> None:
        if self._epochs:
            log.warning(_("lease of %s lost: %s"), self.name, why)
        self._epochs = {}
        self.plan = NOTHING_TO_DO
        self.lost = why

    async def try_take(self) -> list[Taken]:
        """Take what this daemon should lead and can (a read first: it writes nothing while
        the books are held): alone, every book in the configuration's order, all or none —
        one refused gives back those just taken; in a fleet, the free books of its share.
        The books taken, none if nothing could be."""
        try:
            rows, now = await asyncio.to_thread(self.store.leases)
            by_book = {row.book: row for row in rows}
            self.seen = by_book.get(self.claim.book)
            if self.fleet:
                wanted = (await self._look(rows, now)).take
            else:
                wanted = () if self._taken_by_other(by_book, now) else self.books
            return await self.take(wanted, together=not self.fleet)
        except SQLAlchemyError as e:
            log.warning(_("lease of %s: store unavailable: %s"), self.name, e)
            return []

    def _taken_by_other(self, by_book: dict[str, LeaseRow], now_ms: int) -> bool:
        for book in self.books:
            held = by_book.get(book)
            mine = held is None or held.holder in (None, self.claim.holder)
            if held is not None and not mine and held.expires_ms > now_ms:
                self.seen = held
                return True
        return False

    async def take(self, books: Sequence[str], *, together: bool = False) -> list[Taken]:
        """Take these books' leases (each if it is free or lapsed); with `together`, all or
        none. Raises SQLAlchemyError if the store fails."""
        started = self._clock()

        def take_each() -> list[tuple[LeaseRow | None, LeaseRow | None]]:
            # one trip to a thread for them all: a busy loop resumes late after each trip
            tried = []
            for book in books:
                tried.append(self.store.take_lease(replace(self.claim, book=book), self.ttl_ms))
                if together and tried[-1][0] is None:
                    break
            return tried

        taken: list[Taken] = []
        for row, before in await asyncio.to_thread(take_each):
            if row is None:
                if together:
                    await self.give_back({t.lease.book: t.lease.epoch for t in taken})
                    return []
                continue
            takeover = (
                before is not None
                and before.holder not in (None, self.claim.holder)
                and before.expires_ms != 0
            )
            taken.append(Taken(row, before, takeover))
        if taken:
            if not self._epochs:  # else the renewals' validity holds (the shorter one)
                self._valid_until = started + self.timing.ttl - self.timing.margin
            self._epochs |= {t.lease.book: t.lease.epoch for t in taken}
            self.lost = None
        return taken

    def drop(self, book: str) -> int | None:
        """Stop standing on `book` (its epoch, to release it with `give_back`): a fleet's
        daemon giving it up, at a safe point (no order of its rounds in flight)."""
        return self._epochs.pop(book, None)

    async def _look(self, rows: Sequence[LeaseRow], now_ms: int) -> Plan:
        """The fleet as the store shows it, and this daemon's part in it."""
        daemons, _now = await asyncio.to_thread(self.store.daemons)
        me, standing_by = self.claim.holder, not self._epochs
        view = view_of(
            self.books,
            # A standby's own rows (a lease it lost on its own clock) are its to take again,
            # as when alone: it need not wait for them to lapse.
            (
                (r.book, None if standing_by and r.holder == me else r.holder, r.expires_ms)
                for r in rows
            ),
            ((d.holder, d.seen_ms) for d in daemons),
            now_ms,
            self.ttl_ms,
        )
        return plan(view, me)

    async def renew(self) -> bool:
        """Push the expiry on. A failed renewal keeps the lease until its local validity
        runs out (a database blip); a refused one (another epoch) loses it at once."""
        if not self._epochs:
            return False
        epochs, started = dict(self._epochs), self._clock()
        holder, ttl_ms = self.claim.holder, self.ttl_ms

        def renew_each() -> bool:  # one trip to a thread for every book held
            renew = self.store.renew_lease
            return all(renew(book, holder, held, ttl_ms) for book, held in epochs.items())

        try:
            ok = await asyncio.to_thread(renew_each)
        except SQLAlchemyError as e:
            log.warning(_("lease of %s: renewal failed: %s"), self.name, e)
            if not self.valid():
                self.lose(f"not renewed in time ({e})")
            return self.valid()
        if not all(self._epochs.get(b) == e for b, e in epochs.items()):
            return bool(self._epochs)  # lost or given up meanwhile: the next renewal says
        if not ok:
            self.lose(f"the store no longer gives us epoch {epochs}")
            return False
        self._valid_until = started + self.timing.ttl - self.timing.margin
        return True

    async def release(self) -> None:
        epochs, self._epochs = self._epochs, {}
        await self.give_back(epochs)

    async def give_back(self, epochs: dict[str, int]) -> None:
        def release_each() -> None:
            for book, epoch in epochs.items():
                self.store.release_lease(book, self.claim.holder, epoch)

        try:
            await asyncio.to_thread(release_each)
        except SQLAlchemyError as e:  # it lapses by itself
            log.warning(_("lease of %s: release failed: %s"), self.name, e)

    async def check_in(self, force: bool = False) -> None:
        """Tell the store we are alive and in which role, every `timing.check_in` seconds
        (in a fleet, at every renewal)."""
        now = self._clock()
        if not force and now - self._checked_in < self._check_in_every:
            return
        self._checked_in = now
        role = LEADER if self._epochs else STANDBY
        try:
            await asyncio.to_thread(self.store.check_in, self.claim, role)
        except SQLAlchemyError as e:
            log.warning(_("check-in failed: %s"), e)

    async def check_out(self) -> None:
        try:
            await asyncio.to_thread(self.store.check_out, self.claim.holder)
        except SQLAlchemyError as e:
            log.warning(_("check-out failed: %s"), e)

    async def keep(self, on_change: Callable[[], None]) -> None:
        """Renew while held and check in, forever; in a fleet that leads, look at the fleet
        too. `on_change` wakes the loop when the lease is lost or the fleet asks for a move
        (between renewals `valid()` runs out by itself: nothing waits for this)."""
        while True:
            if self._epochs and not await self.renew():
                on_change()
            await self.check_in()
            if self.fleet and self._epochs and self.plan is NOTHING_TO_DO:
                await self._look_again(on_change)
            await asyncio.sleep(self.timing.renew)

    async def _look_again(self, on_change: Callable[[], None]) -> None:
        try:
            rows, now = await asyncio.to_thread(self.store.leases)
            found = await self._look(rows, now)
        except SQLAlchemyError as e:
            log.warning(_("fleet: cannot look at the store: %s"), e)
            return
        if found.take or found.give_up:
            self.plan = found
            on_change()


def standby_status(held: LeaseRow | None, fleet: bool = False) -> str:
    if fleet:  # every book is held by a daemon at its share, or taken faster by another
        return "standby: no book of the fleet for this daemon yet"
    if held is None or held.holder is None:
        return "standby: no daemon leading"
    since = held.since.isoformat(timespec="seconds") if held.since else "?"
    return f"standby: leader {held.host} pid {held.pid} since {since}"


def lease_json(held: LeaseRow | None, now_ms: int) -> dict[str, object]:
    """The lease for people and scripts (hedgectl status)."""
    if held is None or held.holder is None or held.expires_ms <= now_ms:
        return {"leading": False}
    since: datetime | None = held.since
    return {
        "leading": True,
        "host": held.host,
        "pid": held.pid,
        "since": since.isoformat() if since else None,
        "epoch": held.epoch,
        "expires_in_seconds": round((held.expires_ms - now_ms) / 1000, 1),
    }
