"""A fleet: daemons sharing one store's books, each book traded by exactly one of them.

There are no messages between daemons: each one plans from what the store shows — the books of
the shared configuration, the leases (who holds which book, until when) and the daemons'
check-ins — and acts only through leases, whose taking is one transaction (docs/leadership.md).
The plan, repeated at every look:

- a fair share of n books among d live daemons is between floor(n/d) and ceil(n/d);
- a daemon takes free or lapsed books up to its share: up to the ceiling, or only up to the
  floor while another live daemon holds fewer than the floor (so a newcomer gets them);
- when a live daemon holds fewer than the floor and no book is free, the one daemon holding
  the most (ties: the lowest holder id) gives one book up, at a safe point of that book's own
  choosing (no order in flight); the daemon short of books takes it at its next look.

A daemon is live while it holds an unexpired lease or checked in within the liveness window,
so a killed daemon stops counting once its leases lapse and its check-ins stop: the survivors'
share grows and they take its books at their next look.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class View:
    """The fleet as one daemon sees it in the store at one moment."""

    books: tuple[str, ...]  # every book of the shared configuration
    live: frozenset[str]  # daemons (holder ids) that count towards the share
    held: Mapping[str, str]  # book -> holder, for leases held and not lapsed


@dataclass(frozen=True, slots=True)
class Plan:
    take: tuple[str, ...]  # free books to try, in order (another daemon may be faster)
    give_up: str | None  # one held book to release at its next safe point


def view_of(
    books: Iterable[str],
    leases: Iterable[tuple[str, str | None, int]],
    seen: Iterable[tuple[str, int]],
    now_ms: int,
    live_ms: int,
) -> View:
    """The view from the store's rows: leases as (book, holder, expires_ms), check-ins as
    (holder, seen_ms), both on the database's clock `now_ms`."""
    held = {b: h for b, h, expires in leases if h is not None and expires > now_ms}
    fresh = {h for h, at in seen if now_ms - at <= live_ms}
    return View(tuple(books), frozenset(fresh | set(held.values())), held)


def share(books: int, daemons: int) -> tuple[int, int]:
    """The least and the most books one of `daemons` live daemons should hold."""
    if daemons <= 0:
        return 0, books
    return books // daemons, -(-books // daemons)


def plan(view: View, me: str) -> Plan:
    """What daemon `me` does at this look."""
    held = {b: h for b, h in view.held.items() if b in view.books}
    live = view.live | {me}
    counts = Counter(held.values())
    least, most = share(len(view.books), len(live))
    short = [h for h in live if h != me and counts[h] < least]
    free = [b for b in view.books if b not in held]
    room = (least if short else most) - counts[me]
    take = tuple(sorted(free, key=lambda b: _spread(me, b))[: max(room, 0)])
    mine = sorted(b for b, h in held.items() if h == me)
    give_up: str | None = None
    if mine and (counts[me] > most or (short and not free and counts[me] > least)):
        # only the fullest daemon gives up, so that one book moves at a time
        fullest = min(live, key=lambda h: (-counts[h], h))
        if fullest == me or counts[me] > most:
            give_up = mine[-1]
    return Plan(take, give_up)


def _spread(me: str, book: str) -> bytes:
    # Each daemon tries the free books in its own order, so survivors taking a dead daemon's
    # books mostly try different ones rather than all racing for the first.
    return hashlib.blake2b(f"{me}\0{book}".encode(), digest_size=8).digest()
