"""What `hedgectl` shows about a round, computed from the store alone (the daemon may be down)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hedged.costs import Costs, costs_of, total
from hedged.costs import slippage as order_slippage
from hedged.i18n import _
from hedged.leadership import STANDBY, STANDBY_SEEN_MS, lease_json
from hedged.legs import ASTER, BACKPACK, VENUES, Leg, legs_of, symbol_of
from hedged.model import FundingInfo, Quote, Side
from hedged.states.context import BACKSTOP, CLOSE, STOP, TAKE_PROFIT, TRIM
from hedged.store import (
    CommandRow,
    DaemonRow,
    DecisionFigures,
    EventRow,
    FillRow,
    FundingRateRow,
    FundingRow,
    OrderRow,
    QuoteRow,
    RoundRow,
    Store,
    TradeFigures,
    as_utc,
    utc_day_start,
    utcnow,
)

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class LegView:
    venue: str
    symbol: str
    side: str
    qty: Decimal
    entered: Decimal
    entry: Decimal | None
    price: Decimal | None  # a closed leg: its exit price; else the exit-side price now
    pnl_pct: Decimal | None
    state: str  # leg_state(): entering, open, take_profit, closing, closed
    backstop: Decimal | None = None  # the trigger of its latest backstop
    backstop_state: str = "none"  # backstop_state(): none, placing, resting, fired, ...
    funding: Decimal = Decimal(0)  # collected so far on this leg: + received, - paid


@dataclass(frozen=True, slots=True)
class RoundView:
    id: int
    pair: str
    state: str
    legs: list[LegView]
    hedge_pnl: Decimal | None  # realized when DONE, else realized so far + open legs at market
    realized_pnl: Decimal | None
    fees: Decimal | None
    spread_bps: Decimal | None  # Backpack mid over Aster mid
    age_seconds: int
    reason: str | None
    created_at: datetime
    ended_at: datetime | None
    entry_price: Decimal | None  # the mean of the legs' entry prices
    price: Decimal | None  # the mean of the venues' mids now
    change_pct: Decimal | None  # price against entry_price, in %
    gap: Decimal | None  # Backpack mid minus Aster mid, in the quote currency
    funding: Decimal = Decimal(0)  # both legs' funding collected so far (in hedge_pnl)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _quote(row: QuoteRow | None, venue: str) -> Quote | None:
    return None if row is None else Quote(venue, row.symbol, row.bid, row.ask, 0.0)


def round_view(store: Store, r: RoundRow, quotes: dict[tuple[str, str], QuoteRow]) -> RoundView:
    assert r.id is not None
    q = {v: _quote(quotes.get((v, symbol_of(r, v))), v) for v in VENUES}
    return view_of(
        r, store.orders_of(r.id), store.fills_of(r.id), q, funding=store.funding_of(r.id)
    )


def leg_state(leg: Leg, orders: Sequence[OrderRow]) -> str:
    """What a leg is doing, from its orders: entering, open, take_profit (a limit resting),
    closing (a market close under way) or closed. English codes: `--json` shows them as is."""
    pending = {o.purpose for o in orders if o.venue == leg.venue and not o.terminal}
    if not leg.entered:
        return "entering"
    if not leg.is_open:
        return "closed"
    if pending & {STOP, CLOSE, TRIM}:
        return "closing"
    return "take_profit" if TAKE_PROFIT in pending else "open"


def backstop_state(venue: str, orders: Sequence[OrderRow]) -> tuple[Decimal | None, str]:
    """The leg's latest backstop: its trigger and what became of it: none, placing (its
    answer not yet known), resting, fired, cancelled (or expired), refused or not_placed (it
    never reached the venue; another follows). English codes: `--json` shows them as is."""
    mine = [o for o in orders if o.venue == venue and o.purpose == BACKSTOP]
    if not mine:
        return None, "none"
    latest = mine[-1]
    if latest.unresolved:
        state = "placing"
    elif latest.filled_qty > 0:
        state = "fired"
    elif not latest.terminal:
        state = "resting"
    else:
        state = {"REJECTED": "refused", "NEVER_PLACED": "not_placed"}.get(
            latest.status, "cancelled"
        )
    return latest.trigger_price, state


def view_of(
    r: RoundRow,
    orders: Sequence[OrderRow],
    fills: Iterable[FillRow],
    q: Mapping[str, Quote | None],
    now: datetime | None = None,
    funding: Iterable[FundingRow] = (),
) -> RoundView:
    """A round as an operator sees it, from its orders, fills and funding and the venues'
    latest quotes: what `hedgectl` reads from the store and the daemon's monitor holds in
    memory. Its hedge PnL counts the funding collected so far."""
    assert r.id is not None
    legs = legs_of(r, orders)
    views = []
    accrued = {v: Decimal(0) for v in VENUES}
    for f in funding:
        accrued[f.venue] = accrued.get(f.venue, Decimal(0)) + f.amount
    # Cash from every order's fills so far (the orders, like the legs: the venue's fill
    # records may lag them) less the fees recorded, then the open legs at their exit price.
    cash = sum(
        (
            o.filled_qty * o.avg_price * (1 if o.side == Side.SELL.value else -1)
            for o in orders
            if o.filled_qty and o.avg_price is not None
        ),
        Decimal(0),
    ) - sum((f.fee for f in fills), Decimal(0))
    marked = True
    for v in VENUES:
        leg, quote = legs[v], q.get(v)
        price: Decimal | None
        pnl: Decimal | None
        if leg.entered and not leg.is_open and leg.exit_price and leg.entry_price:
            price = leg.exit_price  # what it closed at, not today's market
            pnl = (price - leg.entry_price) / leg.entry_price * leg.side.sign * 100
        else:
            price = quote.exit_price(leg.side) if quote else None
            pnl = leg.pnl_pct(quote) * 100 if quote and leg.is_open and leg.entry_price else None
        views.append(
            LegView(
                v,
                leg.symbol,
                leg.side.value,
                leg.qty,
                leg.entered,
                leg.entry_price,
                price,
                pnl,
                leg_state(leg, orders),
                *backstop_state(v, orders),
                funding=accrued[v],
            )
        )
        if leg.is_open:
            if price is None:
                marked = False
            else:
                cash += leg.qty * price * leg.side.sign
    aster, backpack = q.get(ASTER), q.get(BACKPACK)
    gap = backpack.mid - aster.mid if aster and backpack else None
    spread = None if gap is None or aster is None else gap / aster.mid * BPS
    entries = [leg.entry_price for leg in legs.values() if leg.entry_price is not None]
    entry = sum(entries, Decimal(0)) / len(entries) if entries else None
    mids = [x.mid for x in (aster, backpack) if x is not None]
    mid = sum(mids, Decimal(0)) / len(mids) if mids else None
    end = r.ended_at or now or utcnow()
    cash += sum(accrued.values(), Decimal(0))
    return RoundView(
        id=r.id,
        pair=f"{r.aster_symbol}/{r.backpack_symbol}",
        state=r.state,
        legs=views,
        hedge_pnl=r.realized_pnl if r.state == "DONE" else (cash if marked else None),
        realized_pnl=r.realized_pnl,
        fees=r.fees,
        spread_bps=None if spread is None else spread.quantize(Decimal("0.01")),
        age_seconds=int((end - r.created_at).total_seconds()),
        reason=r.reason,
        created_at=r.created_at,
        ended_at=r.ended_at,
        entry_price=entry,
        price=mid,
        change_pct=None if entry is None or mid is None else (mid - entry) / entry * 100,
        gap=gap,
        funding=sum(accrued.values(), Decimal(0)),
    )


def of_pair(r: RoundRow, pair: str | None) -> bool:
    """Whether the round trades `pair` (its Aster or Backpack symbol, or both as `A/B`);
    every round when None."""
    return pair is None or pair in (r.aster_symbol, r.backpack_symbol, pair_name(r))


def pair_name(r: RoundRow) -> str:
    return f"{r.aster_symbol}/{r.backpack_symbol}"


def status(store: Store, recent: int = 10, pair: str | None = None) -> list[RoundView]:
    """Every active round, then the most recent finished ones (of one pair, or of all)."""
    quotes = store.quotes()
    active = [r for r in store.active_rounds() if of_pair(r, pair)]
    ids = {r.id for r in active}
    recent_rows = (
        store.recent_rounds(recent + len(active))
        if pair is None
        else store.rounds_of(pair, recent + len(active))
    )
    finished = [r for r in recent_rows if r.id not in ids]
    return [round_view(store, r, quotes) for r in active + finished[:recent]]


# -- funding on the venues, as the daemon last read it -------------------------------------


@dataclass(frozen=True, slots=True)
class FundingView:
    """A venue's next settlement of a symbol: its rate (per interval), the interval, when."""

    venue: str
    info: FundingInfo
    read_at: datetime | None = None  # when the daemon read it (None: the daemon's own)

    def to_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "symbol": self.info.symbol,
            "rate": str(self.info.rate),
            "interval_hours": str(self.info.interval_hours),
            "next_at": _jsonable(self.info.next_at),
            "mark_price": _jsonable(self.info.mark_price),
            "read_at": _jsonable(self.read_at),
        }


def funding_view(row: FundingRateRow) -> FundingView:
    info = FundingInfo(row.symbol, row.rate, row.interval_hours, row.next_at, row.mark_price)
    return FundingView(row.venue, info, row.at)


def funding_rates(store: Store, symbols: Collection[str] | None = None) -> list[FundingView]:
    """The last rates the daemon saved, one per venue and symbol (of `symbols` only, if
    given), in the venues' order."""
    rows = [r for r in store.funding_rates().values() if symbols is None or r.symbol in symbols]
    order = {v: i for i, v in enumerate(VENUES)}
    ranked = sorted(rows, key=lambda r: (order.get(r.venue, len(order)), r.symbol))
    return [funding_view(r) for r in ranked]


# -- the daemon, as far as the store shows it ----------------------------------------------


@dataclass(frozen=True, slots=True)
class DaemonView:
    paused: bool  # `hedgectl pause`/`flatten` was applied: no new rounds open
    last_price_at: datetime | None  # the daemon saves prices about once a second while it runs
    pending_commands: int  # queued and not yet applied
    blocked: str | None  # why the daemon refuses to open rounds (its last reconciliation)
    not_opening: str | None = None  # the daemon's current reason for opening no round
    leaders: list[dict[str, Any]] = field(default_factory=list)  # per book: who trades it
    standbys: list[dict[str, Any]] = field(default_factory=list)  # checked in recently

    def price_age(self, now: datetime | None = None) -> float | None:
        if self.last_price_at is None:
            return None
        return ((now or utcnow()) - as_utc(self.last_price_at)).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "last_price_at": _jsonable(self.last_price_at),
            "pending_commands": self.pending_commands,
            "blocked": self.blocked,
            "not_opening": self.not_opening,
            "leader": self.leaders[0] if len(self.leaders) == 1 else None,
            "leaders": self.leaders,
            "standbys": self.standbys,
        }


def daemon_view(store: Store) -> DaemonView:
    leases, now = store.leases()
    daemons, _ = store.daemons()
    return DaemonView(
        paused=store.get_meta("paused") == "1",
        last_price_at=store.last_quote_at(),
        pending_commands=len(store.pending_commands()),
        blocked=store.get_meta("blocked") or None,
        not_opening=store.get_meta("not_opening") or None,
        leaders=[{"book": row.book, **lease_json(row, now)} for row in leases],
        standbys=[
            {**_checked_in(d, now), "book": d.book}
            for d in daemons
            if d.role == STANDBY and now - d.seen_ms <= STANDBY_SEEN_MS
        ],
    )


def _checked_in(d: DaemonRow, now_ms: int) -> dict[str, Any]:
    """A daemon's check-in, for people and scripts."""
    return {
        "host": d.host,
        "pid": d.pid,
        "started_at": _jsonable(d.started_at),
        "seen_seconds_ago": round((now_ms - d.seen_ms) / 1000, 1),
    }


@dataclass(frozen=True, slots=True)
class FleetView:
    """The daemons of one store and the books each holds (`hedgectl fleet`)."""

    daemons: list[dict[str, Any]]  # each checked-in daemon: who, role, when seen, its books
    books: dict[str, dict[str, Any] | None]  # every book with a lease row: its holder or None

    def to_json(self) -> dict[str, Any]:
        return {"daemons": self.daemons, "books": self.books}


def fleet_view(store: Store) -> FleetView:
    leases, now = store.leases()
    daemons, _ = store.daemons()
    held = {r.book: r for r in leases if r.holder is not None and r.expires_ms > now}
    books: dict[str, dict[str, Any] | None] = {
        r.book: (
            {"host": h.host, "pid": h.pid, "epoch": h.epoch} if (h := held.get(r.book)) else None
        )
        for r in leases
    }
    rows = [
        {
            **_checked_in(d, now),
            "role": d.role,
            "books": sorted(b for b, r in held.items() if r.holder == d.holder),
        }
        for d in sorted(daemons, key=lambda d: (d.host, d.pid))
    ]
    return FleetView(rows, books)


def command_json(c: CommandRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "round_id": c.round_id,
        "status": c.status,
        "result": c.result,
        "created_at": _jsonable(c.created_at),
        "applied_at": _jsonable(c.applied_at),
    }


def quote_json(q: QuoteRow) -> dict[str, Any]:
    return {
        "venue": q.venue,
        "symbol": q.symbol,
        "bid": str(q.bid),
        "ask": str(q.ask),
        "at": _jsonable(q.at),
    }


# -- one round in full: `hedgectl show` -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str  # the journal's event kind: transition, intent, order_state, fill, command, ...
    text: str  # one human line
    detail: dict[str, Any]  # the journal entry as recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _jsonable(self.at),
            "kind": self.kind,
            "text": self.text,
            "detail": self.detail,
        }


ORDER_FIELDS = (
    "id",
    "venue",
    "symbol",
    "purpose",
    "side",
    "type",
    "qty",
    "price",
    "reduce_only",
    "client_id",
    "status",
    "venue_order_id",
    "filled_qty",
    "avg_price",
    "reject_code",
    "reject_message",
    "created_at",
    "updated_at",
)


def order_json(o: OrderRow) -> dict[str, Any]:
    """The order's row, and what its fills cost beyond the price it was decided on."""
    data = {k: _jsonable(getattr(o, k)) for k in ORDER_FIELDS}
    slipped = order_slippage(o)
    return data | {"decision_price": _amount(o.decision_price), "slippage": _amount(slipped)}


def _amount(value: Decimal | None) -> str | None:
    """A Decimal as plain digits, never in exponent form ("0E-8"): for JSON and CSV readers."""
    return None if value is None else format(value, "f")


def costs_json(c: Costs, finished: bool = True) -> dict[str, Any]:
    """What the volume cost, under stable English names (`--json`, `--csv`). An unfinished
    round has no realized PnL yet, so neither it nor the cost per volume is shown."""
    return {
        "volume": {v: _amount(n) for v, n in c.volume.items()},
        "total_volume": _amount(c.total_volume),
        "maker_fees": _amount(c.maker_fees),
        "taker_fees": _amount(c.taker_fees),
        "fees": _amount(c.fees),
        "funding": _amount(c.funding),
        "slippage": _amount(c.slippage),
        "realized_pnl": _amount(c.realized_pnl) if finished else None,
        "cost_per_10k": _amount(c.cost_per_10k) if finished else None,
    }


def round_costs(
    store: Store, r: RoundRow, orders: Sequence[OrderRow], fills: Iterable[FillRow]
) -> Costs:
    """One round's costs from its orders and fills and the funding its legs received."""
    assert r.id is not None
    funding = store.funding_by_round([r.id])[r.id]
    return costs_of(orders, fills, r.realized_pnl or Decimal(0), funding)


@dataclass(frozen=True, slots=True)
class RoundDetail:
    view: RoundView
    qty: Decimal | None
    halted_from: str | None
    opened_at: datetime | None
    deadline_at: datetime | None
    volume: Decimal | None
    orders: list[OrderRow]
    timeline: list[TimelineEntry]
    commands: list[CommandRow]  # addressed to this round; pending ones are not in the journal
    costs: Costs  # so far, until the round is DONE

    @property
    def finished(self) -> bool:
        return self.view.state == "DONE"

    def to_json(self) -> dict[str, Any]:
        """A `status` entry plus the round's own fields, costs, orders, timeline and commands."""
        return self.view.to_json() | {
            "qty": _jsonable(self.qty),
            "halted_from": self.halted_from,
            "opened_at": _jsonable(self.opened_at),
            "deadline_at": _jsonable(self.deadline_at),
            "volume": _jsonable(self.volume),
            "costs": costs_json(self.costs, self.finished),
            "orders": [order_json(o) for o in self.orders],
            "timeline": [t.to_json() for t in self.timeline],
            "commands": [command_json(c) for c in self.commands],
        }


def round_detail(store: Store, round_id: int) -> RoundDetail | None:
    r = store.get_round(round_id)
    if r is None:
        return None
    orders = store.orders_of(round_id)
    fills = store.fills_of(round_id)
    quotes = store.quotes()
    q = {v: _quote(quotes.get((v, symbol_of(r, v))), v) for v in VENUES}
    return RoundDetail(
        view=view_of(r, orders, fills, q),
        qty=r.qty,
        halted_from=r.halted_from,
        opened_at=r.opened_at,
        deadline_at=r.deadline_at,
        volume=r.volume,
        orders=orders,
        timeline=timeline(store.events_of(round_id), orders),
        commands=store.commands_of(round_id),
        costs=round_costs(store, r, orders, fills),
    )


def timeline(events: list[EventRow], orders: list[OrderRow]) -> list[TimelineEntry]:
    by_id = {o.id: o for o in orders}
    entries = []
    for e in events:
        detail = event_detail(e)
        entries.append(TimelineEntry(e.at, e.kind, describe(e.kind, detail, by_id), detail))
    return entries


def event_detail(e: EventRow) -> dict[str, Any]:
    try:
        detail = json.loads(e.detail)
    except ValueError:
        return {"raw": e.detail}
    return detail if isinstance(detail, dict) else {"value": detail}


def describe(kind: str, d: dict[str, Any], orders: dict[int | None, OrderRow]) -> str:
    """One line for a journal entry, in the words an operator would use."""
    order = orders.get(d.get("order")) if isinstance(d.get("order"), int) else None
    who = f"#{d.get('order')}" + (f" {order.venue} {order.purpose}" if order else "")
    match kind:
        case "round_created":
            text = _("round created ({state})").format(state=d.get("state", "OPENING"))
            if d.get("short"):  # (rounds before directions were stored: on Aster)
                text += _(", short on {venue}").format(venue=d["short"])
            return text
        case "direction":
            rates = d.get("rate_per_hour") or {}
            return _(
                "short on {short}, long on {long}, by funding: rates per hour {rates}, "
                "expected carry {carry} of the notional per hour"
            ).format(
                short=d.get("short"),
                long=d.get("long"),
                rates=", ".join(f"{v} {r}" for v, r in rates.items()),
                carry=d.get("carry_per_hour"),
            )
        case "transition":
            text = f"{d.get('from')} -> {d.get('to')} ({d.get('trigger')})"
            if d.get("reason"):
                text += f": {d['reason']}"
            if d.get("to") == "MONITORING" and d.get("qty") is not None:
                text += _("; qty {qty} per leg").format(qty=d["qty"])
            if d.get("realized_pnl") is not None:
                text += _("; realized PnL {pnl}, fees {fees}, volume {volume}").format(
                    pnl=d["realized_pnl"], fees=d.get("fees"), volume=d.get("volume")
                )
            return text
        case "intent":
            price = f" @ {d['price']}" if d.get("price") is not None else ""
            reduce = _(" reduce-only") if d.get("reduce_only") else ""
            order_text = (
                f"{d.get('side')} {d.get('qty')} {d.get('symbol')} {d.get('type')}{price}{reduce}"
            )
            return _("intent #{id} {venue} {purpose}: {order} (client id {client_id})").format(
                id=d.get("order"),
                venue=d.get("venue"),
                purpose=d.get("purpose"),
                order=order_text,
                client_id=d.get("client_id"),
            )
        case "order_state":
            parts = [str(d["status"])] if d.get("status") else []
            if d.get("filled_qty") is not None:
                avg = f" @ {d['avg_price']}" if d.get("avg_price") is not None else ""
                parts.append(_("filled {qty}").format(qty=d["filled_qty"]) + avg)
            if d.get("venue_order_id"):
                parts.append(_("venue id {id}").format(id=d["venue_order_id"]))
            return f"{who}: {', '.join(parts) or _('updated')}"
        case "order_rejected":
            reason = f"{d.get('reject_code') or ''} {d.get('reject_message') or ''}"
            return _("{who}: rejected {reason}").format(who=who, reason=reason)
        case "order_ambiguous":
            return _("{who}: outcome unknown ({why}); resolving by client id").format(
                who=who, why=d.get("reject_message")
            )
        case "order_never_placed":
            return _("{who}: never placed (not found after the signature window)").format(who=who)
        case "fill":
            return _("{who}: fill {qty} @ {price}, fee {fee} (trade {trade})").format(
                who=who,
                qty=d.get("qty"),
                price=d.get("price"),
                fee=d.get("fee"),
                trade=d.get("trade"),
            )
        case "funding":
            return _(
                "funding {venue} {symbol} settled {at}: {amount} on position {qty} "
                "(payment {payment} of {total})"
            ).format(
                venue=d.get("venue"),
                symbol=d.get("symbol"),
                at=d.get("at"),
                amount=d.get("amount"),
                qty=d.get("qty"),
                payment=d.get("payment"),
                total=d.get("of"),
            )
        case "command":
            verdict = _("done") if d.get("ok") else _("FAILED")
            return _("operator {command}: {verdict}: {result}").format(
                command=d.get("command"), verdict=verdict, result=d.get("result")
            )
    return f"{kind}: " + ", ".join(f"{k}={v}" for k, v in d.items())


# -- rounds waiting for an operator: `hedgectl halted` -------------------------------------


@dataclass(frozen=True, slots=True)
class HaltedView:
    view: RoundView  # its reason is the halt reason
    halted_from: str | None  # where `resume` takes it back to
    halted_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return self.view.to_json() | {
            "halted_from": self.halted_from,
            "halted_at": _jsonable(self.halted_at),
        }


def halted(store: Store) -> list[HaltedView]:
    quotes = store.quotes()
    views = []
    for r in store.active_rounds():
        if r.state != "HALTED":
            continue
        assert r.id is not None
        halts = [
            e.at
            for e in store.events_of(r.id)
            if e.kind == "transition" and event_detail(e).get("to") == "HALTED"
        ]
        views.append(
            HaltedView(round_view(store, r, quotes), r.halted_from, halts[-1] if halts else None)
        )
    return views


# -- finished rounds by UTC day: `hedgectl history` ---------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    id: int
    pair: str
    reason: str | None
    ended_at: datetime
    duration_seconds: int
    costs: Costs  # volume per venue, fees, funding, slippage, realized PnL

    @property
    def realized_pnl(self) -> Decimal:
        return self.costs.realized_pnl

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pair": self.pair,
            "reason": self.reason,
            "ended_at": _jsonable(self.ended_at),
            "duration_seconds": self.duration_seconds,
        } | costs_json(self.costs)


@dataclass(frozen=True, slots=True)
class Totals:
    rounds: int
    wins: int  # realized PnL (after fees and funding) above zero
    costs: Costs

    @property
    def win_rate(self) -> Decimal | None:
        return None if not self.rounds else (Decimal(self.wins) / self.rounds)

    def to_json(self) -> dict[str, Any]:
        rate = self.win_rate
        return {
            "rounds": self.rounds,
            "wins": self.wins,
            "win_rate": None if rate is None else str(rate.quantize(Decimal("0.0001"))),
        } | costs_json(self.costs)


def totals(rounds: list[Finished]) -> Totals:
    return Totals(
        rounds=len(rounds),
        wins=sum(r.realized_pnl > 0 for r in rounds),
        costs=total(r.costs for r in rounds),
    )


@dataclass(frozen=True, slots=True)
class Day:
    day: date  # UTC, by the time the round ended
    rounds: list[Finished]
    totals: Totals

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "rounds": [r.to_json() for r in self.rounds],
            "totals": self.totals.to_json(),
        }


@dataclass(frozen=True, slots=True)
class History:
    since: datetime | None  # None: since the first round
    days: list[Day]
    total: Totals

    def to_json(self) -> dict[str, Any]:
        return {
            "since": _jsonable(self.since),
            "days": [d.to_json() for d in self.days],
            "total": self.total.to_json(),
        }


def history(store: Store, days: int | None = None, pair: str | None = None) -> History:
    """DONE rounds of the last `days` UTC days (today included), or all of them; of one
    pair, or of all; with what their volume cost."""
    since = None if days is None else utc_day_start() - timedelta(days=days - 1)
    rounds = store.finished_rounds(since)
    trades, decisions = store.finished_costs(since)
    fills: dict[int, list[TradeFigures]] = defaultdict(list)
    for f in trades:
        fills[f.round_id].append(f)
    orders: dict[int, list[DecisionFigures]] = defaultdict(list)
    for o in decisions:
        orders[o.round_id].append(o)
    funding = store.funding_by_round(r.id for r in rounds if r.id is not None)
    by_day: dict[date, list[Finished]] = defaultdict(list)
    for r in rounds:
        assert r.id is not None
        if not of_pair(r, pair):
            continue
        ended = as_utc(r.ended_at or r.created_at)
        by_day[ended.date()].append(
            Finished(
                id=r.id,
                pair=pair_name(r),
                reason=r.reason,
                ended_at=ended,
                duration_seconds=int((ended - as_utc(r.opened_at or r.created_at)).total_seconds()),
                costs=costs_of(
                    orders[r.id],
                    fills[r.id],
                    r.realized_pnl or Decimal(0),
                    funding[r.id],
                ),
            )
        )
    day_list = [Day(d, rs, totals(rs)) for d, rs in sorted(by_day.items())]
    return History(since, day_list, totals([r for d in day_list for r in d.rounds]))


def pair_totals(h: History) -> dict[str, Totals]:
    """The history's totals per pair, by Aster symbol."""
    by_pair: dict[str, list[Finished]] = defaultdict(list)
    for day in h.days:
        for r in day.rounds:
            by_pair[r.pair.partition("/")[0]].append(r)
    return {name: totals(rounds) for name, rounds in sorted(by_pair.items())}


# -- one frame of `hedgectl watch` ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    daemon: DaemonView
    quotes: list[QuoteRow]
    rounds: list[RoundView]
    funding: list[FundingView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _jsonable(self.at),
            "daemon": self.daemon.to_json(),
            "quotes": [quote_json(q) for q in self.quotes],
            "funding": [f.to_json() for f in self.funding],
            "rounds": [r.to_json() for r in self.rounds],
        }


def snapshot(store: Store, recent: int = 5, pair: str | None = None) -> Snapshot:
    quotes = sorted(store.quotes().values(), key=lambda q: (VENUES.index(q.venue), q.symbol))
    rounds = status(store, recent, pair)
    symbols = None if pair is None else pair_symbols(pair, rounds)
    if symbols is not None:  # the pair's prices only
        quotes = [q for q in quotes if q.symbol in symbols]
    return Snapshot(utcnow(), daemon_view(store), quotes, rounds, funding_rates(store, symbols))


def pair_symbols(pair: str, rounds: Iterable[RoundView]) -> set[str]:
    """The symbols of the pair `--pair` names (one venue's symbol, or both), as its rounds
    show them."""
    return {pair, *pair.split("/")} | {s for v in rounds for s in v.pair.split("/")}
