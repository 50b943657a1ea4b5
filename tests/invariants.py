"""The invariants every round test and torture run ends with, checked against the simulated
venues' own records rather than anything the daemon says about itself:

(1) no client order id reached a venue more than once;
(2) each venue's position is what the store's unfinished rounds expect, and each DONE round is
    flat by the venues' fills;
(3) no order of ours is open once its round is DONE, and none belongs to no round;
(4) every round ended DONE (or HALTED with a reason, where that was provoked);
(5) each DONE round's stored PnL, fees and volume are exactly what the venues' fills say,
    its PnL including its funding: its share of each payment the venues made on the account's
    position while the round held part of it (by the venues' trade and settlement times), pro
    rata by position; its stored funding is exactly those shares, none missing, none twice.

Used by `roundkit` (in-process venues), `test_fault_matrix` (the wire simulators) and the
crash harness (the simulator's saved state file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp

from hedged.funding import split
from hedged.model import OrderStatus
from hedged.store import FundingRow, OrderRow, RoundRow, Store

if TYPE_CHECKING:
    from hedged.sim.server import SimServers

ZERO = Decimal(0)
ENDED = ("DONE", "HALTED")  # a round in any other state may still trade


@dataclass(frozen=True)
class VenueRecords:
    """What the simulated venues hold for one account. `states`: per venue its exchange's
    state as `SimExchange.to_dict()` writes it (the simulator's state file holds the same);
    `submissions`: per venue, how many times each client order id was submitted."""

    account: str
    # venue -> the symbol the rounds trade there (or the symbols, for several pairs)
    symbols: Mapping[str, str | Sequence[str]]
    states: Mapping[str, Mapping[str, Any]]
    submissions: Mapping[str, Mapping[str, int]]

    @property
    def venues(self) -> list[str]:
        return list(self.symbols)

    def markets(self) -> list[tuple[str, str]]:
        """Every (venue, symbol) the rounds trade."""
        return [
            (v, s)
            for v, traded in self.symbols.items()
            for s in ((traded,) if isinstance(traded, str) else traded)
        ]

    def orders(self, venue: str) -> list[Mapping[str, Any]]:
        return [o for o in self.states[venue]["orders"] if o["account"] == self.account]

    def fills(self, venue: str) -> list[Mapping[str, Any]]:
        return [f for f in self.states[venue]["fills"] if f["account"] == self.account]

    def funding(self, venue: str, symbol: str) -> list[Mapping[str, Any]]:
        """The account's funding payments on one symbol, as the venue booked them."""
        return [
            p
            for p in self.states[venue].get("funding_payments", [])
            if p["account"] == self.account and p["symbol"] == symbol
        ]

    def position(self, venue: str, symbol: str) -> Decimal:
        positions = [
            Decimal(p["qty"])
            for p in self.states[venue]["positions"]
            if p["account"] == self.account and p["symbol"] == symbol
        ]
        return sum(positions, ZERO)


async def wire_records(
    servers: SimServers, account: str, symbols: Mapping[str, str | Sequence[str]]
) -> VenueRecords:
    """The records of simulators serving on 127.0.0.1: each venue's state, and how many times
    each client order id reached it (read over the wire, as any client would)."""
    submissions = {}
    async with aiohttp.ClientSession() as s:
        for v in symbols:
            async with s.get(servers.url(v) + "/_admin/submissions") as answer:
                submissions[v] = await answer.json()
    states = {v: servers.world.venues[v].to_dict() for v in symbols}
    return VenueRecords(account, symbols, states, submissions)


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    duplicates: int = 0  # client ids that reached a venue more than once
    orphan_exposure: Decimal = ZERO  # base units on the venues no round accounts for
    rounds: Counter[str] = field(default_factory=Counter)  # final state -> count
    traded: int = 0  # DONE rounds with fills
    pnl_checked: int = 0  # DONE rounds whose PnL was recomputed from venue fills
    funded: int = 0  # of those, rounds whose PnL holds funding the venues paid or charged

    def conclude(self, final: Verdict) -> None:
        """Take the final check's figures, keeping the violations found along the way."""
        self.violations += final.violations
        self.duplicates = final.duplicates
        self.orphan_exposure = final.orphan_exposure
        self.rounds = final.rounds
        self.traded = final.traded
        self.pnl_checked = final.pnl_checked
        self.funded = final.funded


def check_submissions(submissions: Mapping[str, Mapping[str, int]]) -> Verdict:
    """(1) Every client order id reached each venue at most once."""
    verdict = Verdict()
    for venue, counts in submissions.items():
        for client_id, n in sorted(counts.items()):
            if n != 1:
                verdict.duplicates += 1
                verdict.violations.append(f"(1) {venue} {client_id} submitted {n} times")
    return verdict


def check_invariants(
    store: Store,
    records: VenueRecords,
    *,
    foreign: Mapping[str, set[str]] | None = None,
    halted_ok: bool = False,
    final: bool = True,
) -> Verdict:
    """Invariants (1)-(5) over the store and the venues' records, once every round has ended
    and the records are final. `foreign`: venue -> client ids placed behind the daemon's back
    (their fills are expected exposure). `final=False` (the records may lag the store, rounds
    unfinished): only (1) and (3)."""
    check = _Check.of(store, records, foreign or {})
    check.orders_owned()
    if not final:
        return check.verdict
    check.positions_expected()
    for r in check.rounds:
        check.verdict.rounds[r.state] += 1
        if r.state == "HALTED":
            if not (halted_ok and r.reason):
                check.violation(f"(4) round {r.id} HALTED: {r.reason}")
            continue
        if r.state != "DONE":
            check.violation(f"(4) round {r.id} ended {r.state}")
            continue
        check.done_round(r)
    return check.verdict


def check_between_passes(store: Store, records: VenueRecords) -> Verdict:
    """(1), (3) and (5) between two passes of an engine whose venues' records are exact (the
    in-process simulator), rounds possibly still live; and, when no round is live, each venue
    flat with no order of ours open."""
    check = _Check.of(store, records, {})
    check.orders_owned()
    for r in check.rounds:
        check.verdict.rounds[r.state] += 1
        if r.state == "DONE":
            check.done_round(r)
    if all(r.state in ENDED for r in check.rounds):
        check.flat()
    return check.verdict


def _signed(side: str, qty: Decimal) -> Decimal:
    return qty if side == "BUY" else -qty


def _cs(seconds: float) -> int:
    """A settlement time in hundredths of a second: the venues write times to the
    millisecond or the microsecond, rounded their own way; settlements are seconds apart."""
    return round(seconds * 100)


def _settled(at: datetime) -> int:
    return _cs((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())


@dataclass
class _Check:
    """The store's rounds and orders beside the venues' records; violations go to `verdict`."""

    records: VenueRecords
    rounds: list[RoundRow]
    orders: dict[int, list[OrderRow]]
    foreign: Mapping[str, set[str]]
    verdict: Verdict
    funding: dict[int, list[FundingRow]]
    owed: dict[int, dict[tuple[str, int], Decimal]] | None = None  # round -> its funding shares

    @classmethod
    def of(cls, store: Store, records: VenueRecords, foreign: Mapping[str, set[str]]) -> _Check:
        rounds = store.recent_rounds(store.count_rounds() + 1)
        orders = {r.id: store.orders_of(r.id) for r in rounds if r.id is not None}
        funding = {r.id: store.funding_of(r.id) for r in rounds if r.id is not None}
        verdict = check_submissions(records.submissions)
        return cls(records, rounds, orders, foreign, verdict, funding)

    def violation(self, what: str, exposure: Decimal = ZERO) -> None:
        self.verdict.violations.append(what)
        self.verdict.orphan_exposure += abs(exposure)

    def orders_owned(self) -> None:
        """(3) no order of ours open on a venue once its round is DONE; none that no round
        owns."""
        by_client_id = {(o.venue, o.client_id): r for r in self.rounds for o in self._of(r)}
        for v in self.records.venues:
            for o in self.records.orders(v):
                owner = by_client_id.get((v, o["client_id"]))
                is_open = not OrderStatus(o["status"]).terminal
                if owner is None and o["client_id"] not in self.foreign.get(v, set()):
                    self.violation(
                        f"(3) {v} order {o['client_id']} ({o['status']}) belongs to no round",
                        Decimal(o["filled_qty"]),
                    )
                elif owner is not None and is_open and owner.state == "DONE":
                    self.violation(
                        f"(3) {v} order {o['client_id']} still open; round {owner.id} DONE"
                    )

    def positions_expected(self) -> None:
        """(2) each venue's net position equals what the unfinished rounds expect (plus
        foreign fills)."""
        for v, symbol in self.records.markets():
            expected = sum(
                (
                    _signed(o.side, o.filled_qty)
                    for r in self.rounds
                    if r.state != "DONE"
                    for o in self._of(r)
                    if (o.venue, o.symbol) == (v, symbol)
                ),
                ZERO,
            )
            expected += sum(
                (
                    _signed(f["side"], Decimal(f["qty"]))
                    for f in self.records.fills(v)
                    if f["client_id"] in self.foreign.get(v, set()) and f["symbol"] == symbol
                ),
                ZERO,
            )
            actual = self.records.position(v, symbol)
            if actual != expected:
                self.violation(
                    f"(2) {v} {symbol} position {actual}, store expects {expected}",
                    actual - expected,
                )

    def flat(self) -> None:
        """(2), (3) with no round live: each venue flat, no order of ours open."""
        for v, symbol in self.records.markets():
            position = self.records.position(v, symbol)
            if position != 0:
                self.violation(f"(2) {v} position {position} with no round live", position)
        for v in self.records.venues:
            for o in self.records.orders(v):
                if not OrderStatus(o["status"]).terminal:
                    self.violation(
                        f"(3) {v} order {o['client_id']} ({o['status']}) open with no round live"
                    )

    def done_round(self, r: RoundRow) -> None:
        """(2) a DONE round is flat by the venues' fills; (5) its PnL, fees and volume are
        theirs."""
        venues = self.records.venues
        ids = {v: {o.client_id for o in self._of(r) if o.venue == v} for v in venues}
        fills = [(v, f) for v in venues for f in self.records.fills(v) if f["client_id"] in ids[v]]
        for venue in venues:
            net = sum((_signed(f["side"], Decimal(f["qty"])) for v, f in fills if v == venue), ZERO)
            if net != 0:
                self.violation(f"(2) round {r.id} DONE but {venue} fills net {net}", net)
        cash = fees = volume = ZERO
        for _v, f in fills:  # what the venues charged, which is what they reported
            notional = Decimal(f["qty"]) * Decimal(f["price"])
            cash += notional if f["side"] == "SELL" else -notional
            fees += Decimal(f["fee"])
            volume += notional
        owed = self.funding_owed(r)
        pnl = cash - fees + sum(owed.values(), ZERO)
        self.verdict.pnl_checked += 1
        self.verdict.traded += bool(fills)
        self.verdict.funded += bool(owed)
        stored = (r.realized_pnl, r.fees, r.volume)
        if stored != (pnl, fees, volume):
            self.violation(
                f"(5) round {r.id}: store PnL/fees/volume {stored}, venues' fills and funding "
                f"say {(pnl, fees, volume)}"
            )
        booked: dict[tuple[str, int], Decimal] = {}
        for row in self.funding[r.id or 0]:
            key = (row.venue, _settled(row.at))
            if key in booked:
                self.violation(f"(5) round {r.id}: {row.venue} funding at {row.at} stored twice")
            booked[key] = booked.get(key, ZERO) + row.amount
        if booked != owed:
            self.violation(
                f"(5) round {r.id}: stored funding {sorted(booked.items())}, the venues' "
                f"payments give it {sorted(owed.items())}"
            )

    def funding_owed(self, r: RoundRow) -> dict[tuple[str, int], Decimal]:
        """The round's share of every payment the venues made on the account's position,
        keyed by (venue, settlement time in hundredths of a second): split pro rata between
        the rounds by their positions just before it settled, from the venues' trade times."""
        if self.owed is None:
            self.owed = {}
            for v, symbol in self.records.markets():
                owner = {
                    o.client_id: rid for rid, os in self.orders.items() for o in os if o.venue == v
                }
                fills = [
                    (owner[f["client_id"]], f)
                    for f in self.records.fills(v)
                    if f["client_id"] in owner and f["symbol"] == symbol
                ]
                for p in self.records.funding(v, symbol):
                    positions: dict[int, Decimal] = {}
                    for rid, f in fills:
                        if f["at"] < p["at"]:
                            positions[rid] = positions.get(rid, ZERO) + _signed(
                                f["side"], Decimal(f["qty"])
                            )
                    for rid, share in split(Decimal(p["amount"]), positions).items():
                        key = (v, _cs(p["at"]))
                        mine = self.owed.setdefault(rid, {})
                        mine[key] = mine.get(key, ZERO) + share
        return self.owed.get(r.id or 0, {})

    def _of(self, r: RoundRow) -> list[OrderRow]:
        return self.orders[r.id or 0]
