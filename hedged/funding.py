"""Funding: the payments on each leg read from its venue and attributed to the rounds that
held the position when it settled (docs/architecture.md#funding).

A payment settles the account's whole position on a symbol; the rounds that held part of
it at that moment (by the venue's own trade times) share it pro rata by their signed
quantity, so a round's share is what its own position paid or received. All shares of a
payment are stored at once, with the venue's payment id: a payment is never counted twice,
and one read again after a restart adds nothing.

The collector reads off the price path: on the slow timer once a settlement time has
passed (and once after the daemon takes the lease, for what was paid while it was down),
and for a round that has gone flat, one read started after its last fill, so that the
round is DONE with its funding in its PnL. A held leg that no settlement of the venue's
schedule can have paid yet is not read on the timer or at a reconciliation (a history read
is the costliest call: Aster's weight 30 a symbol); its round's own read at its end, which
is never skipped, finds anything paid off the schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hedged.adapters.base import Venue, VenueError
from hedged.i18n import _
from hedged.legs import VENUES, symbol_of
from hedged.model import ZERO, FundingInfo, FundingPayment, FundingShare, Side
from hedged.orders import OrderDesk
from hedged.store import FillRow, RoundRow, Store, as_utc, utcnow

log = logging.getLogger(__name__)

# A venue books a settlement at most this long after its time: a leg closed this soon after
# one is finished only by a read made that long after it (or by the payment itself).
SETTLEMENT_LAG = timedelta(seconds=10)
INFO_EVERY = timedelta(seconds=60)  # funding rates re-read this often (hedgectl shows them)
RETRY_AFTER = timedelta(seconds=5)  # a failed read is tried again on a later timer pass
SHARE_PLACES = 12  # a share of a payment split between rounds, before the remainder
JOB = "funding"  # the collection job's name: one runs at a time
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Spawn = Callable[[str, Coroutine[Any, Any, None]], None]


def split(amount: Decimal, quantities: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """`amount` shared pro rata by signed quantity (round id -> its position). The shares
    add up to `amount` exactly: the last round (by id) takes the remainder."""
    held = {r: q for r, q in sorted(quantities.items()) if q != 0}
    total = sum(held.values(), ZERO)
    if not held or total == 0:
        return {}
    quantum = Decimal(1).scaleb(-SHARE_PLACES)
    *first, last = held
    shares = {r: (amount * held[r] / total).quantize(quantum) for r in first}
    shares[last] = amount - sum(shares.values(), ZERO)
    return shares


def position_at(fills: Iterable[FillRow], at: datetime) -> Decimal:
    """A round's signed position on one venue just before `at`: its fills traded before
    then (a trade at the settlement's very time comes after it)."""
    return sum((f.qty * Side(f.side).sign for f in fills if as_utc(f.at) < at), ZERO)


def interval_of(info: FundingInfo) -> timedelta:
    """The time between two settlements, to the microsecond, from the Decimal hours."""
    return timedelta(microseconds=int(info.interval_hours * 3_600_000_000))


def last_boundary(info: FundingInfo, at: datetime) -> datetime:
    """The latest settlement time at or before `at`, on the schedule `info` gives."""
    interval = interval_of(info)
    if interval <= timedelta(0):
        return info.next_at
    return info.next_at + ((at - info.next_at) // interval) * interval


class FundingCollector:
    def __init__(
        self,
        store: Store,
        venues: Mapping[str, Venue],
        desk: OrderDesk,
        spawn: Spawn,
        wake: Callable[[int], None],
    ) -> None:
        self.store = store
        self.venues = venues
        self.desk = desk
        self._spawn = spawn  # runs a job beside the loop, unless one by that name runs
        self._wake = wake  # a round whose funding is in: step it
        self.infos: dict[tuple[str, str], FundingInfo] = {}
        self._info_at: dict[tuple[str, str], datetime] = {}
        self._read_at: dict[tuple[str, str], datetime] = {}  # last complete read: its start
        self._waiting: dict[int, dict[tuple[str, str], datetime]] = {}  # round -> ready_at
        self.due = True  # a history read is owed: at start (what was paid while down)
        self.stored = 0  # payments stored by this collector (the monitor reads on change)
        self._retry_at = EPOCH

    # -- a flat round (CLOSING) ---------------------------------------------------------

    def finished(self, round_: RoundRow, fills: list[FillRow]) -> Decimal | None:
        """The round's funding once every payment up to its legs' close is stored, else
        None (a read is on its way; the round is woken when it is in). Cheap: it runs on
        every step of a CLOSING round, and reads a venue only through the job it spawns."""
        assert round_.id is not None
        ready_at = self._waiting.get(round_.id)
        if ready_at is None:
            ready_at = self._waiting[round_.id] = self._ready_at(round_, fills)
        if self._complete(ready_at):
            del self._waiting[round_.id]
            return self.store.funding_by_round([round_.id])[round_.id]
        now = utcnow()
        if now >= self._retry_at and any(at <= now for at in ready_at.values()):
            # its own legs' histories only: a venue's history read is costly (Aster: weight
            # 30 a symbol), and many pairs' rounds finish often
            self._spawn(JOB, self.collect(history=True, legs=ready_at))
        return None

    def let_go(self, round_id: int) -> None:
        """A round of a book given up to another daemon: its wait is that daemon's now."""
        self._waiting.pop(round_id, None)

    def _complete(self, ready_at: Mapping[tuple[str, str], datetime]) -> bool:
        return all(self._read_at.get(key, EPOCH) >= at for key, at in ready_at.items())

    def _ready_at(self, round_: RoundRow, fills: list[FillRow]) -> dict[tuple[str, str], datetime]:
        """Per leg traded, the start from which a read of its venue's history is complete
        for the round: now (its last fill is in), or, when a settlement came just before its
        last fill, once the venue has had the lag to book it (counted on our clock from the
        venue's times: a clock offset between the two does not matter)."""
        now = utcnow()
        ready: dict[tuple[str, str], datetime] = {}
        for venue in VENUES:
            traded = [f for f in fills if f.venue == venue]
            if not traded:
                continue
            key = (venue, symbol_of(round_, venue))
            closed = max(as_utc(f.at) for f in traded)
            info = self.infos.get(key)
            ready[key] = now
            if info is not None:
                settled = last_boundary(info, closed)
                if closed - settled < SETTLEMENT_LAG:
                    ready[key] = now + SETTLEMENT_LAG - (closed - settled)
        return ready

    def _paid_since(self, key: tuple[str, str], opened: datetime) -> bool:
        """Whether a settlement of the venue's schedule (as read at most `INFO_EVERY` ago,
        or for a flat round's own read after its close) may have paid a position held since
        `opened`, up to now or to the venue's last settlement if that is later by its clock:
        one at most the lag before `opened` may be stamped after it. True while the schedule
        is unknown. A history read is skipped on it: one is costly (Aster: weight 30), and
        most rounds of many pairs open and close between two settlements."""
        info = self.infos.get(key)
        if info is None:
            return True
        latest = last_boundary(info, max(utcnow(), info.next_at - interval_of(info)))
        return latest > opened - SETTLEMENT_LAG

    # -- the timer ----------------------------------------------------------------------

    def on_timer(self, traded: Iterable[tuple[str, str]]) -> None:
        """The slow timer's pass: read the histories once a settlement time has passed (or
        a read is owed, or a flat round waits), the rates once a minute; beside the loop."""
        now = utcnow()
        if now < self._retry_at:
            return
        settled = any(now >= info.next_at + SETTLEMENT_LAG for info in self.infos.values())
        waiting = any(at <= now for r in self._waiting.values() for at in r.values())
        history = self.due or settled or waiting
        keys = list(traded)
        stale = any(now - self._info_at.get(k, EPOCH) >= INFO_EVERY for k in keys)
        if history or stale:
            self._spawn(JOB, self.collect(keys, history=history))

    async def collect(
        self,
        traded: Iterable[tuple[str, str]] = (),
        history: bool = True,
        legs: Collection[tuple[str, str]] | None = None,
    ) -> None:
        """Refresh the rates of the (venue, symbol) `traded` and of the legs held; with
        `history`, read each held leg's venue history (or only `legs`') and store what is
        new, then wake the flat rounds it finishes."""
        try:
            held = self._held_legs()
            if legs is not None:
                held = {k: at for k, at in held.items() if k in legs}
            for key in sorted(set(held) | set(traded)):
                # a flat round's read is skipped only on a schedule read after its close
                await self._refresh_info(key, now=legs is not None and key in legs)
            if history:
                self.due = self.due and legs is not None  # a read of some legs owes the rest
                for key, since in sorted(held.items()):
                    if self._paid_since(key, since):
                        await self.collect_leg(key, since)
                    else:  # nothing paid to any position held there: what a read would say
                        self._read_at[key] = utcnow()
        except VenueError as e:
            self.due = self.due or (history and legs is None)
            self._retry_at = utcnow() + RETRY_AFTER
            log.warning(_("funding: cannot read the venues' funding: %s; retrying"), e)
            return
        for round_id, ready_at in list(self._waiting.items()):
            if self._complete(ready_at):
                self._wake(round_id)

    async def _refresh_info(self, key: tuple[str, str], now: bool = False) -> None:
        """The venue's rate and schedule for `key` if older than `INFO_EVERY` (or, `now`,
        at once: a read of weight 1 or 2 instead of the history's 30)."""
        venue, symbol = key
        at = utcnow()
        info = self.infos.get(key)
        fresh = info is not None and at - self._info_at[key] < INFO_EVERY and at < info.next_at
        if fresh and not now:
            return
        info = await self.venues[venue].funding_info(symbol)
        self.infos[key], self._info_at[key] = info, at
        self.store.save_funding_info(venue, info)

    def _held_legs(self) -> dict[tuple[str, str], datetime]:
        """Each (venue, symbol) an unfinished round has traded, and its earliest trade there:
        the history is read from then on."""
        since: dict[tuple[str, str], datetime] = {}
        for r in self.store.active_rounds():
            assert r.id is not None
            for f in self.store.fills_of(r.id):
                key, at = (f.venue, symbol_of(r, f.venue)), as_utc(f.at)
                since[key] = min(since.get(key, at), at)
        return since

    async def collect_leg(self, key: tuple[str, str], since: datetime) -> int:
        """Read one venue's history of one symbol from `since` and store the rounds' shares
        of every payment not stored yet; how many payments were added."""
        started = utcnow()
        venue, symbol = key
        payments = await self.venues[venue].funding_payments(symbol, since)
        known = self.store.known_funding(venue, [p.payment_id for p in payments])
        added = 0
        for p in payments:
            if p.payment_id not in known and await self._attribute(p):
                added += 1
        self._read_at[key] = started
        return added

    async def _attribute(self, payment: FundingPayment) -> bool:
        """Store every round's share of one payment; False when no round held the position
        then (not the hedge's: a position no round of ours explains)."""
        rounds = self._holders(payment)
        positions: dict[int, Decimal] = {}
        for r in rounds:
            assert r.id is not None
            await self._complete_fills(r)
            fills = [f for f in self.store.fills_of(r.id) if f.venue == payment.venue]
            positions[r.id] = position_at(fills, payment.at)
        shares = split(payment.amount, positions)
        if not shares:
            log.warning(
                _("funding: %s payment %s of %s on %s at %s: no round held the position"),
                payment.venue,
                payment.payment_id,
                payment.amount,
                payment.symbol,
                payment.at.isoformat(),
            )
            return False
        done = {r.id for r in rounds if r.state == "DONE"}  # finished: never rewritten
        self.store.add_funding_shares(
            {
                rid: [FundingShare(payment, amount, positions[rid])]
                for rid, amount in shares.items()
                if rid not in done
            }
        )
        self.stored += 1
        return True

    def _holders(self, payment: FundingPayment) -> list[RoundRow]:
        """The rounds that may have held the position when it settled: every unfinished
        round on the symbol, and the finished ones that ended after it (they count in the
        split; their PnL is final, so their share is not written)."""
        venue, symbol = payment.venue, payment.symbol
        live = [r for r in self.store.active_rounds() if symbol_of(r, venue) == symbol]
        return live + self.store.finished_since(payment.at, venue, symbol)

    async def _complete_fills(self, round_: RoundRow) -> None:
        """The trades of the round's filled orders, read where the store lacks some."""
        assert round_.id is not None
        for o in self.store.orders_of(round_.id):
            if o.filled_qty > 0:
                await self.desk.collect_fills(o)
