"""One trader per book, checked from records the daemons do not keep themselves: the store's
journal of each book's lease taken and given up, and the simulators' record of who sent which
order request for which symbol, when (each daemon signs with keys of its own on the one
account). Every request a venue accepted must come from the daemon that held the book of
its symbol at that moment; one signed before its daemon froze and written after it lost the
book may still arrive, but the venue's signature window must have refused it."""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC

from sqlmodel import col, select

from hedged.store import EventRow, Store

Arrival = Mapping[str, object]


@dataclass
class HolderCheck:
    checked: int = 0  # requests looked at
    late_refused: int = 0  # from a daemon without the book, refused by the venue
    foreign: list[str] = field(default_factory=list)  # ... accepted: a violation each
    books_taken: int = 0  # lease takings journaled


def holdings(store: Store) -> dict[str, list[tuple[float, str | None]]]:
    """Each book's holders in time: (from when, holder id; None once given up)."""
    with store.session() as s:
        q = select(EventRow).where(col(EventRow.kind).in_(("lease_taken", "lease_given_up")))
        events = list(s.exec(q.order_by(col(EventRow.id))))
    books: dict[str, list[tuple[float, str | None]]] = {}
    for e in events:
        detail = json.loads(e.detail)
        at = e.at.replace(tzinfo=e.at.tzinfo or UTC).timestamp()
        holder = str(detail["holder"]) if e.kind == "lease_taken" else None
        books.setdefault(str(detail["book"]), []).append((at, holder))
    return {b: sorted(h, key=lambda x: x[0]) for b, h in books.items()}


def check_holders(
    store: Store,
    arrivals: Mapping[str, Sequence[Arrival]],
    book_of: Mapping[tuple[str, str], str],
    daemon_of_holder: Callable[[str], str | None],
    daemon_of_key: Mapping[str, str],
) -> HolderCheck:
    """`arrivals`: venue -> the simulator's records; `book_of`: (venue, symbol) -> book;
    `daemon_of_holder`/`daemon_of_key`: the daemon (any name) behind a lease holder id and
    behind an API key."""
    result = HolderCheck()
    timeline = holdings(store)
    result.books_taken = sum(h is not None for hs in timeline.values() for _, h in hs)
    for venue, entries in arrivals.items():
        for a in entries:
            result.checked += 1
            at, key, symbol = float(str(a["at"])), str(a["key"]), str(a["symbol"])
            held = timeline.get(book_of[(venue, symbol)], [])
            i = bisect_right([t for t, _ in held], at)
            holder = held[i - 1][1] if i else None
            holding = None if holder is None else daemon_of_holder(holder)
            sender = daemon_of_key.get(key)
            if sender is not None and sender == holding:
                continue
            status = a["status"]
            if status == "refused" or (isinstance(status, int) and status >= 400):
                result.late_refused += 1
                continue
            result.foreign.append(
                f"{venue} {a['action']} {symbol} {a['client_id']} at {at:.3f} from {sender} "
                f"while {holding} held the book"
            )
    return result
