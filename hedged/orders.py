"""The write-ahead order protocol (docs/architecture.md#write-ahead-orders).

1. The intent is committed durably, with a client id derived from its row, before sending.
2. Every answer is classified: Accepted, Rejected, Ambiguous.
3. Ambiguous is never resent: the order is looked up by client id, and "not found" is final
   only once its signature window has passed (measured on the monotonic clock: a wall clock
   stepped forward must not end a window early).
4. A request leaves only within SEND_SLACK of its intent's creation (checked once it is
   signed, with the lease), so every copy of it carries a timestamp at most that much later
   than the intent's `created_at`: a successor that finds the intent unresolved (after a
   restart or a takeover) knows when the last copy stops being valid without waiting a whole
   window from the moment it looks.

`Venue.place` answers with an outcome and does not raise. If it raises anyway, that is a bug:
whether bytes left is unknown, so the order is recorded Ambiguous and resolved by client id
like any other, the error is logged with its traceback, and then re-raised so that the round
halts instead of trading on with a bug.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedged.adapters.base import (
    Accepted,
    Ambiguous,
    Outcome,
    ReadyOrder,
    Rejected,
    Venue,
    VenueError,
)
from hedged.crashpoints import crashpoint
from hedged.i18n import _
from hedged.model import OrderRequest, OrderType, Side
from hedged.store import AMBIGUOUS, NEVER_PLACED, OrderRow, Store, as_utc, new_order

log = logging.getLogger(__name__)

# Our clock and the venue's (and another host's) may disagree by this much; wait it out
# before "never placed".
CLOCK_MARGIN = 1.0
# How long after its intent is made a request may still leave (a slower commit: not sent).
SEND_SLACK = 1.0


@dataclass(slots=True)
class _Sending:
    """The order this task is sending: until when it may leave, and when the fence last let
    it go (its request is signed by then)."""

    by: float
    let_go: float | None = None


_sending: ContextVar[_Sending | None] = ContextVar("sending", default=None)
_market: ContextVar[tuple[str, str] | None] = ContextVar("market", default=None)


def market_in_hand() -> tuple[str, str] | None:
    """The (venue, symbol) of the order or cancel the desk is sending from this task, if
    any: the fence asks whether its book is still held."""
    return _market.get()


def in_time() -> bool:
    """Whether the order this task is sending is still within SEND_SLACK of its intent
    (asked with the lease, after signing); anything else this task sends is not bounded."""
    sending, now = _sending.get(), time.monotonic()
    if sending is None:
        return True
    if now > sending.by:
        return False
    sending.let_go = now
    return True


async def _raise(error: Exception) -> Outcome:
    raise error


def log_fields(row: OrderRow) -> dict[str, Any]:
    """Structured log fields of an order (journald's ROUND_ID, VENUE, CLIENT_ORDER_ID)."""
    return {"round_id": row.round_id, "venue": row.venue, "client_id": row.client_id}


class Unresolved(Exception):
    """An ambiguous order could not be looked up yet; try again on a later step."""


@dataclass(frozen=True, slots=True)
class Intent:
    venue: str
    symbol: str
    side: Side
    qty: Decimal
    purpose: str
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    decision_price: Decimal | None = None  # a market order's touch when it was decided
    post_only: bool = False

    @property
    def decided_at(self) -> Decimal | None:
        """The price this order was decided on: its limit, its trigger, or the touch."""
        if self.type is OrderType.LIMIT:
            return self.price
        if self.type is OrderType.STOP_MARKET:
            return self.trigger_price
        return self.decision_price


class OrderDesk:
    def __init__(self, store: Store, venues: Mapping[str, Venue]) -> None:
        self.store = store
        self.venues = venues
        self._client_ids = {name: v.client_id for name, v in venues.items()}
        # When an ambiguous order, if never placed, can no longer be placed (monotonic clock).
        self._deadlines: dict[int, float] = {}

    async def submit(
        self, round_id: int, intents: Sequence[Intent], round_fields: Mapping[str, Any] = {}
    ) -> list[OrderRow]:
        """Commit all intents (and the round's `round_fields`) in one transaction, then send
        them concurrently."""
        made = time.monotonic()  # before the rows' created_at: the send-by bound holds
        rows = self.store.add_intents(
            [
                new_order(
                    round_id=round_id,
                    venue=i.venue,
                    symbol=i.symbol,
                    purpose=i.purpose,
                    side=i.side.value,
                    type=i.type.value,
                    qty=i.qty,
                    price=i.price,
                    reduce_only=i.reduce_only,
                    post_only=i.post_only,
                    trigger_price=i.trigger_price,
                    decision_price=i.decided_at,
                )
                for i in intents
            ],
            self._client_ids,
            round_fields,
        )
        crashpoint("after_intent_commit")
        send_by = made + SEND_SLACK
        ready = [self._prepare(r) for r in rows]  # every leg signed before any is written
        if len(rows) == 1:  # a stop: sent from this task, not from a new one a loop turn later
            sent = [await self._send(rows[0], ready[0], send_by)]
        else:  # every leg's send ends before anything is raised: none outlives its step
            ended = await asyncio.gather(
                *(self._send(r, o, send_by) for r, o in zip(rows, ready, strict=True)),
                return_exceptions=True,
            )
            if failed := next((e for e in ended if isinstance(e, BaseException)), None):
                raise failed
            sent = [e for e in ended if not isinstance(e, BaseException)]
        bug = next((b for _, b in sent if b is not None), None)
        if bug is not None:  # every order is settled or resolving: now the round may halt
            raise bug
        return [row for row, _ in sent]

    def _prepare(self, row: OrderRow) -> ReadyOrder:
        """The row's order checked and signed by its venue, to be sent by `_send`."""
        assert row.client_id is not None
        request = OrderRequest(
            client_id=row.client_id,
            symbol=row.symbol,
            side=Side(row.side),
            type=OrderType(row.type),
            qty=row.qty,
            price=row.price,
            reduce_only=row.reduce_only,
            post_only=row.post_only,
            trigger_price=row.trigger_price,
        )
        try:
            return self.venues[row.venue].prepare(request)
        except Exception as e:  # a bug: met where its send would have raised it
            return functools.partial(_raise, e)

    async def _send(
        self, row: OrderRow, ready: ReadyOrder, send_by: float
    ) -> tuple[OrderRow, Exception | None]:
        """The order as it ended up, and the exception placing it raised (a bug) if it did."""
        assert row.id is not None and row.client_id is not None
        oid = row.id
        venue = self.venues[row.venue]
        sending = _Sending(send_by)
        bounded = _sending.set(sending)  # only this order: what the task sends next is not
        in_hand = _market.set((row.venue, row.symbol))
        bug: Exception | None = None
        try:
            outcome = await ready()
        except VenueError as e:  # the client's own error type: the request may have left
            outcome = Ambiguous(f"{type(e).__name__}: {e}")
        except Exception as e:  # a bug, maybe after the bytes left: still "maybe placed"
            bug = e
            outcome = Ambiguous(f"bug: {type(e).__name__}: {e}")
            log.error(
                _("%s %s %s: placing raised %s (a bug); resolving it by client id"),
                row.venue,
                row.purpose,
                row.client_id,
                type(e).__name__,
                exc_info=e,
                extra=log_fields(row),
            )
        finally:
            _sending.reset(bounded)
            _market.reset(in_hand)
        # Its request, if it left, was signed by the fence's last yes (or, with no fence
        # asking `in_time`, by now).
        signed_by = sending.let_go if sending.let_go is not None else time.monotonic()
        self._deadlines[oid] = signed_by + venue.signature_window + CLOCK_MARGIN
        crashpoint("after_send")
        if row.purpose == "ENTRY":
            crashpoint("between_entry_legs")
        match outcome:
            case Accepted(order):
                self._deadlines.pop(oid, None)  # definite: no lookup will need it
                row = self.store.record_state(oid, order)
                return await self.collect_fills(row), bug
            case Rejected(code, message):
                self._deadlines.pop(oid, None)
                log.warning(
                    _("%s rejected %s %s: %s %s"),
                    row.venue,
                    row.purpose,
                    row.client_id,
                    code,
                    message,
                    extra=log_fields(row),
                )
                return self.store.record_order(
                    oid,
                    "order_rejected",
                    status="REJECTED",
                    reject_code=code,
                    reject_message=message,
                ), bug
            case Ambiguous(reason):
                log.warning(
                    _("%s %s %s: outcome unknown (%s); resolving by client id"),
                    row.venue,
                    row.purpose,
                    row.client_id,
                    reason,
                    extra=log_fields(row),
                )
                self.store.record_order(
                    oid, "order_ambiguous", status=AMBIGUOUS, reject_message=reason
                )
                try:
                    row = await self.resolve(
                        row, patience=venue.signature_window + 2 * CLOCK_MARGIN
                    )
                except Unresolved:
                    row = self.store.get_order(oid)
                return row, bug
        raise AssertionError(f"unknown outcome {outcome!r}")

    async def resolve(self, row: OrderRow, patience: float = 0.0) -> OrderRow:
        """Find out what became of an INTENT or AMBIGUOUS order, by its client id.

        Retries for up to `patience` seconds; raises Unresolved if it still cannot tell."""
        assert row.id is not None and row.client_id is not None
        oid, client_id = row.id, row.client_id
        venue = self.venues[row.venue]
        deadline = self._deadlines.setdefault(row.id, self.never_placed_after(row))
        give_up = time.monotonic() + patience
        pause = 0.05
        while True:
            try:
                state = await venue.query(row.symbol, client_id)
            except VenueError as e:
                log.warning(
                    _("%s: cannot look up %s yet: %s"),
                    row.venue,
                    client_id,
                    e,
                    extra=log_fields(row),
                )
            else:
                if state is not None:
                    self._deadlines.pop(oid, None)
                    row = self.store.record_state(oid, state)
                    return await self.collect_fills(row)
                if time.monotonic() > deadline:
                    self._deadlines.pop(oid, None)
                    log.info("%s %s was never placed", row.venue, client_id, extra=log_fields(row))
                    return self.store.record_order(oid, "order_never_placed", status=NEVER_PLACED)
            if time.monotonic() + pause > give_up:
                raise Unresolved(f"{row.venue} order {client_id} is still unresolved")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def never_placed_after(self, row: OrderRow) -> float:
        """When (monotonic) an order found unresolved by this process, if not at the venue,
        can no longer get there: its request left before now and within SEND_SLACK of the
        intent, if at all; whichever bound comes first, plus its signature window."""
        window = self.venues[row.venue].signature_window + CLOCK_MARGIN
        stamped_by = as_utc(row.created_at).timestamp() + SEND_SLACK - time.time()
        return time.monotonic() + min(stamped_by, 0.0) + window

    async def refresh(self, row: OrderRow) -> OrderRow:
        """Bring a live order up to date from its venue (and record new fills)."""
        if row.unresolved:
            return await self.resolve(row)
        assert row.id is not None and row.client_id is not None
        state = await self.venues[row.venue].query(row.symbol, row.client_id)
        if state is None:
            raise VenueError(f"{row.venue} does not know our order {row.client_id}")
        row = self.store.record_state(row.id, state)
        return await self.collect_fills(row)

    async def cancel(self, row: OrderRow) -> OrderRow:
        """Cancel, then read the order back: a fill may have beaten the cancel."""
        client_id = row.client_id
        assert client_id is not None
        if row.unresolved:
            row = await self.resolve(row)
            if row.terminal:
                return row
        in_hand = _market.set((row.venue, row.symbol))
        try:
            outcome = await self.venues[row.venue].cancel(row.symbol, client_id)
        finally:
            _market.reset(in_hand)
        if isinstance(outcome, Rejected):
            log.info(
                "%s cancel of %s refused (%s %s); reading it back",
                row.venue,
                row.client_id,
                outcome.code,
                outcome.message,
                extra=log_fields(row),
            )
        return await self.refresh(row)

    async def collect_fills(self, row: OrderRow) -> OrderRow:
        """Record the trades of a (partly) filled order that the store does not have yet."""
        recorded = sum(
            (f.qty for f in self.store.fills_of(row.round_id) if f.order_id == row.id), Decimal(0)
        )
        if row.filled_qty > recorded:
            assert row.client_id is not None
            fills = await self.venues[row.venue].fills(row.symbol, row.client_id)
            self.store.add_fills(row, fills)
        return row
