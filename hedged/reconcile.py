"""Reconciliation: the one path that makes the store agree with the venues
(docs/architecture.md#reconciliation).

Run at start-up, after a stream reconnects and on operator request. Batched per venue and
symbol: one open-orders and one position call each (read again, a bounded number of times,
only while a fill lands between the two), plus a lookup per order the store cannot place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from hedged.adapters.base import Venue
from hedged.crashpoints import crashpoint
from hedged.i18n import _
from hedged.legs import legs_of, symbol_of
from hedged.model import ZERO
from hedged.orders import OrderDesk, Unresolved
from hedged.store import OrderRow, Store

log = logging.getLogger(__name__)

POSITION_READS = 3  # position reads per venue and symbol while fills keep arriving


@dataclass
class Report:
    resolved: int = 0  # INTENT / AMBIGUOUS orders settled by client id
    refreshed: int = 0  # live orders read back
    orphans_cancelled: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    # each unresolved order's (venue, symbol) and why: it blocks the pair trading it
    unresolved_at: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    # (venue, symbol) -> (venue's position, what the open rounds expect)
    mismatches: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    venue_calls: int = 0

    @property
    def clean(self) -> bool:
        return not self.mismatches and not self.unresolved


async def reconcile(
    store: Store,
    venues: Mapping[str, Venue],
    desk: OrderDesk,
    symbols: Mapping[str, set[str]],
    *,
    only: bool = False,
) -> Report:
    """`symbols`: venue -> the symbols we trade there (checked even with no round open);
    with `only`, nothing else (a fleet's daemon taking a book: the others it holds agree)."""
    report = Report()
    live = [o for o in store.live_orders() if not only or o.symbol in symbols.get(o.venue, ())]
    pairs = {(v, s) for v, syms in symbols.items() for s in syms}
    pairs |= {(o.venue, o.symbol) for o in live}

    # 1. Settle every order the store is unsure of, by client id (in parallel: each may
    #    wait out its signature window).
    async def settle(o: OrderRow) -> None:
        try:
            await desk.resolve(o, patience=venues[o.venue].signature_window + 2)
            report.resolved += 1
        except Unresolved as e:
            report.unresolved.append(str(e))
            report.unresolved_at.append(((o.venue, o.symbol), str(e)))

    await asyncio.gather(*(settle(o) for o in live if o.unresolved))

    # 2. Read back live orders: one open-orders call per venue and symbol; an order no longer
    #    open is looked up by client id to learn how it ended.
    async def read_back(venue: str, symbol: str) -> None:
        report.venue_calls += 1
        orders = await venues[venue].open_orders(symbol)
        open_ids = {o.client_id for o in orders}
        ours = {
            o.client_id: o for o in store.live_orders() if (o.venue, o.symbol) == (venue, symbol)
        }
        for o in orders:
            row = ours.get(o.client_id)
            if row is not None and row.id is not None:
                store.record_state(row.id, o)
            elif venues[venue].owns(store.namespace, o.client_id):
                log.warning(
                    _("%s: cancelling orphan order %s %s"),
                    venue,
                    o.client_id,
                    symbol,
                    extra={"venue": venue, "client_id": o.client_id},
                )
                report.venue_calls += 1
                await venues[venue].cancel(symbol, o.client_id)
                report.orphans_cancelled.append(f"{venue}:{o.client_id}")
        for cid, row in ours.items():
            if cid not in open_ids and not row.unresolved:  # unresolved: reported in step 1
                report.venue_calls += 1
                await desk.refresh(row)
                report.refreshed += 1

    for venue, symbol in sorted(pairs):
        await read_back(venue, symbol)
    crashpoint("inside_reconcile")

    # 3. Compare each venue's net position with what the open rounds hold. A resting order
    #    may fill after it was read back and before the position is read: when reading the
    #    orders back again changes what the rounds hold, that was a fill, so compare again;
    #    a difference that an unchanged read-back confirms is real.
    for venue, symbol in sorted(pairs):
        expected = _expected(store, venue, symbol)
        for _read in range(POSITION_READS):
            report.venue_calls += 1
            actual = (await venues[venue].position(symbol)).qty
            if actual == expected:
                break
            await read_back(venue, symbol)
            before, expected = expected, _expected(store, venue, symbol)
            if expected == before:
                break
        if actual != expected:
            report.mismatches[(venue, symbol)] = (actual, expected)
            log.error(
                _("%s %s: venue position %s, open rounds expect %s"),
                venue,
                symbol,
                actual,
                expected,
                extra={"venue": venue},
            )
    store.journal(
        None,
        "reconciled",
        resolved=report.resolved,
        refreshed=report.refreshed,
        orphans=report.orphans_cancelled,
        unresolved=report.unresolved,
        mismatches={
            f"{v}:{s}": {"venue": a, "expected": e} for (v, s), (a, e) in report.mismatches.items()
        },
    )
    return report


def _expected(store: Store, venue: str, symbol: str) -> Decimal:
    """The net position the open rounds hold on one venue and symbol."""
    total = ZERO
    rounds = store.active_rounds()
    orders = store.orders_of_rounds(r.id for r in rounds if r.id is not None)
    for r in rounds:
        assert r.id is not None
        for leg in legs_of(r, orders[r.id]).values():
            if (leg.venue, symbol_of(r, leg.venue)) == (venue, symbol):
                total += leg.qty * leg.side.sign
    return total
