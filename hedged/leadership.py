"""Leadership: exactly one daemon trades a book (docs/leadership.md).

A daemon holds the book's lease in the store, renewed in the background. Its writes are
fenced by the lease's epoch (`Store.fence`), and each order leaves only if, after it was
signed, the lease is still valid on this process's monotonic clock. A daemon that cannot
renew in time gives the lease up on its own before the store can hand it to another.

A daemon trading several pairs holds one lease row per pair's book, taken, renewed and
given up together: it leads all of them or none, and each write checks every one of them.
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


class Lease:
    """This daemon's hold on its books' leases: `claim.book`'s, and with `books` those of
    every pair it trades, held together."""

    def __init__(
        self,
        store: Store,
        claim: Claim,
        timing: Timing = Timing(),
        clock: Callable[[], float] = time.monotonic,
        *,
        books: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.claim = claim
        self.books = tuple(dict.fromkeys((claim.book, *books)))  # claim.book first
        self.timing = timing
        self._clock = clock
        self.epoch: int | None = None  # claim.book's; None while not leading
        self._epochs: dict[str, int] = {}  # every book's, while leading
        self._valid_until = 0.0
        self.lost: str | None = None  # why the lease was lost, until it is taken again
        self.seen: LeaseRow | None = None  # the lease as last read while standing by
        self._checked_in = -float("inf")

    @property
    def ttl_ms(self) -> int:
        return int(self.timing.ttl * 1000)

    def valid(self) -> bool:
        """Whether this daemon may send: it holds the lease and cannot have lost it yet."""
        return self.epoch is not None and self._clock() < self._valid_until

    @property
    def name(self) -> str:
        """The books, as logs and hedgectl name them."""
        return self.claim.book if len(self.books) == 1 else " ".join(self.books)

    def fence(self) -> Fence:
        """What this daemon's writes stand on (no epoch yet: every write is refused)."""
        epoch = -1 if self.epoch is None else self.epoch
        also = tuple((b, self._epochs.get(b, -1)) for b in self.books[1:])
        return Fence(self.claim.book, self.claim.holder, epoch, self.valid, also)

    def lose(self, why: str) -> None:
        if self.epoch is not None:
            log.warning(_("lease of %s lost: %s"), self.name, why)
        self.epoch = None
        self._epochs = {}
        self.lost = why

    async def try_take(self) -> Taken | None:
        """Take the leases if they are free or lapsed (a read first: a standby writes
        nothing while one is held), in the books' order; all or none: one refused gives
        back those just taken. The first book's take is what is returned."""
        try:
            rows, now = await asyncio.to_thread(self.store.leases)
            by_book = {row.book: row for row in rows}
            self.seen = by_book.get(self.claim.book)
            for book in self.books:
                held = by_book.get(book)
                mine = held is None or held.holder in (None, self.claim.holder)
                if held is not None and not mine and held.expires_ms > now:
                    self.seen = held
                    return None
            started = self._clock()
            first: tuple[LeaseRow | None, LeaseRow | None] = (None, None)
            epochs: dict[str, int] = {}
            for book in self.books:
                claim = replace(self.claim, book=book)
                taken, before = await asyncio.to_thread(self.store.take_lease, claim, self.ttl_ms)
                if taken is None:
                    await self._give_back(epochs)
                    return None
                epochs[book] = taken.epoch
                if book == self.claim.book:
                    first = (taken, before)
        except SQLAlchemyError as e:
            log.warning(_("lease of %s: store unavailable: %s"), self.name, e)
            return None
        taken, before = first
        assert taken is not None
        self._epochs = epochs
        self.epoch = taken.epoch
        self._valid_until = started + self.timing.ttl - self.timing.margin
        self.lost = None
        takeover = (
            before is not None
            and before.holder not in (None, self.claim.holder)
            and before.expires_ms != 0
        )
        return Taken(taken, before, takeover)

    async def renew(self) -> bool:
        """Push the expiry on. A failed renewal keeps the lease until its local validity
        runs out (a database blip); a refused one (another epoch) loses it at once."""
        if self.epoch is None:
            return False
        epoch, epochs, started = self.epoch, dict(self._epochs), self._clock()
        try:
            ok = True
            for book, held in epochs.items():
                ok = ok and await asyncio.to_thread(
                    self.store.renew_lease, book, self.claim.holder, held, self.ttl_ms
                )
        except SQLAlchemyError as e:
            log.warning(_("lease of %s: renewal failed: %s"), self.name, e)
            if not self.valid():
                self.lose(f"not renewed in time ({e})")
            return self.valid()
        if self.epoch != epoch:
            return False
        if not ok:
            self.lose(f"the store no longer gives us epoch {epoch}")
            return False
        self._valid_until = started + self.timing.ttl - self.timing.margin
        return True

    async def release(self) -> None:
        epochs, self._epochs, self.epoch = self._epochs, {}, None
        await self._give_back(epochs)

    async def _give_back(self, epochs: dict[str, int]) -> None:
        try:
            for book, epoch in epochs.items():
                await asyncio.to_thread(self.store.release_lease, book, self.claim.holder, epoch)
        except SQLAlchemyError as e:  # it lapses by itself
            log.warning(_("lease of %s: release failed: %s"), self.name, e)

    async def check_in(self, force: bool = False) -> None:
        """Tell the store we are alive and in which role, every `timing.check_in` seconds."""
        now = self._clock()
        if not force and now - self._checked_in < self.timing.check_in:
            return
        self._checked_in = now
        role = LEADER if self.epoch is not None else STANDBY
        try:
            await asyncio.to_thread(self.store.check_in, self.claim, role)
        except SQLAlchemyError as e:
            log.warning(_("check-in failed: %s"), e)

    async def check_out(self) -> None:
        try:
            await asyncio.to_thread(self.store.check_out, self.claim.holder)
        except SQLAlchemyError as e:
            log.warning(_("check-out failed: %s"), e)

    async def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew while held and check in, forever; `on_lost` wakes the loop when the lease
        is lost. (Between renewals `valid()` runs out by itself: nothing waits for this.)"""
        while True:
            if self.epoch is not None and not await self.renew():
                on_lost()
            await self.check_in()
            await asyncio.sleep(self.timing.renew)


def standby_status(held: LeaseRow | None) -> str:
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
