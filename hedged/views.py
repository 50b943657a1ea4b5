"""How rounds look to an operator: `hedgectl`'s tables, its watch screen, and the monitoring
block that `hedgectl watch` and the daemon's terminal monitor both draw. Rendering only:
the figures come from `hedged.report`; every word goes through the catalog (`hedged.i18n`).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hedged.costs import Costs
from hedged.costs import slippage as order_slippage
from hedged.i18n import N_, _, ngettext
from hedged.model import Quote
from hedged.report import (
    DaemonView,
    FleetView,
    FundingView,
    HaltedView,
    History,
    LegView,
    RoundDetail,
    RoundView,
    Snapshot,
    Totals,
    costs_json,
)
from hedged.store import ACTIVE_STATES, as_utc

DOWN_AFTER_SECONDS = 60.0  # no price saved for this long: the daemon is most likely down

STATE_STYLE = {
    "OPENING": "magenta",
    "MONITORING": "cyan",
    "LIMIT_SET": "blue",
    "CLOSING": "yellow",
    "DONE": "green",
    "HALTED": "bold red",
}
STATE_NAME = {
    "OPENING": N_("OPENING"),
    "MONITORING": N_("MONITORING"),
    "LIMIT_SET": N_("LIMIT_SET"),
    "CLOSING": N_("CLOSING"),
    "DONE": N_("DONE"),
    "HALTED": N_("HALTED"),
}
LEG_STATE = {  # report.leg_state()'s codes
    "entering": N_("entering"),
    "open": N_("open"),
    "take_profit": N_("take-profit resting"),
    "closing": N_("closing"),
    "closed": N_("closed"),
}


BACKSTOP_STATE = {  # report.backstop_state()'s codes
    "none": N_("none"),
    "placing": N_("placing"),
    "resting": N_("resting"),
    "fired": N_("fired"),
    "cancelled": N_("cancelled"),
    "refused": N_("refused"),
    "not_placed": N_("not placed"),
}


def backstop_text(leg: LegView) -> str:
    """A leg's backstop as a cell: its trigger and its state ("101.98 resting")."""
    state = _(BACKSTOP_STATE.get(leg.backstop_state, leg.backstop_state))
    return state if leg.backstop is None else f"{leg.backstop} {state}"


def fmt(value: Decimal | None, places: str = "0.0001") -> str:
    return "-" if value is None else str(value.quantize(Decimal(places)))


def signed(value: Decimal | None, places: str = "0.0001", suffix: str = "") -> Text:
    if value is None:
        return Text("-")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value.quantize(Decimal(places)):+}{suffix}", style=style)


def state_text(state: str) -> Text:
    return Text(_(STATE_NAME.get(state, state)), style=STATE_STYLE.get(state, ""))


def when(at: datetime | None, ms: bool = False) -> str:
    if at is None:
        return "-"
    text = as_utc(at).strftime("%Y-%m-%d %H:%M:%S.%f" if ms else "%Y-%m-%d %H:%M:%S")
    return text[:-3] if ms else text


def age(total: float) -> str:
    s = int(total)
    if s < 60:
        return _("{s}s").format(s=s)
    if s < 3600:
        return _("{m}m{s:02d}s").format(m=s // 60, s=s % 60)
    if s < 86400:
        return _("{h}h{m:02d}m").format(h=s // 3600, m=s % 3600 // 60)
    return _("{d}d{h:02d}h").format(d=s // 86400, h=s % 86400 // 3600)


def leg_name(leg: LegView) -> str:
    return (_("{venue} short") if leg.side == "SELL" else _("{venue} long")).format(venue=leg.venue)


def side_name(side: str) -> str:
    return _("sell") if side == "SELL" else _("buy")


def _table(*columns: tuple[str, bool], title: str | None = None) -> Table:
    """A table of named columns, (name, right-justified)."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name, right in columns:
        t.add_column(name, justify="right" if right else "left")
    return t


# -- the daemon, as far as the store shows it ----------------------------------------------


def daemon_hint(d: DaemonView, queued_at: datetime) -> str:
    """Why a command may be waiting: a running daemon saves prices every loop pass."""
    seen = d.price_age()
    if seen is None or d.last_price_at is None:
        return _("the daemon has never saved a price in this database (has it run?)")
    if as_utc(d.last_price_at) < as_utc(queued_at):
        return _(
            "the daemon looks down (no sign of it since the command was queued; "
            "last price update {age} ago)"
        ).format(age=age(seen))
    return _(
        "the daemon is running (last price update {age} ago) but has not applied it yet"
    ).format(age=age(seen))


def daemon_line(d: DaemonView) -> Text:
    seen_ago = d.price_age()
    if seen_ago is None:
        seen = Text(_("no price saved yet"), style="yellow")
    else:
        down = seen_ago > DOWN_AFTER_SECONDS
        text = _("last price update {age} ago").format(age=age(seen_ago))
        seen = Text(text + (_(" (down?)") if down else ""), style="yellow" if down else "")
    line = Text(_("daemon: ")).append(seen).append(_("  new rounds: "))
    line.append(
        _("paused by operator") if d.paused else _("not paused"),
        style="yellow" if d.paused else "green",
    )
    if d.pending_commands:
        line.append(_("  queued commands: {n}").format(n=d.pending_commands), style="yellow")
    line.append("\n").append(leadership_line(d))
    if d.blocked:
        line.append("\n" + _("not opening rounds: {why}").format(why=d.blocked), style="red")
    elif d.not_opening and not d.paused:
        line.append("\n" + _("no new round: {why}").format(why=d.not_opening), style="yellow")
    return line


def funding_line(rates: Sequence[FundingView]) -> Text:
    """Each venue's next settlement: when, at which rate (per interval, in %), how often."""
    line = Text(_("funding: "))
    for i, f in enumerate(rates):
        line.append("; " if i else "")
        line.append(
            _("{venue} {symbol} next {at} UTC, rate ").format(
                venue=f.venue, symbol=f.info.symbol, at=when(f.info.next_at)
            )
        )
        line.append(signed(f.info.rate * 100, "0.0001", "%"))
        line.append(_(" per {hours}h").format(hours=f.info.interval_hours.normalize()))
    if not rates:
        line.append(_("not read yet"), style="dim")
    return line


def leadership_line(d: DaemonView) -> Text:
    leading = [x for x in d.leaders if x["leading"]]
    if not leading:
        line = Text(_("no daemon leading"), style="red")
    else:
        line = Text(_("leader: "))
        by_daemon: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for x in leading:  # a fleet: each daemon once, with how many books it holds
            by_daemon.setdefault((x["host"], x["pid"]), []).append(x)
        for i, books in enumerate(by_daemon.values()):
            line.append("; " if i else "")
            if len(books) == 1 or len(by_daemon) == 1:
                text = _("{host} pid {pid} since {since} (epoch {epoch})").format(**books[0])
            else:
                text = _("{host} pid {pid}: {books} books").format(**books[0], books=len(books))
            line.append(text, style="green")
    standbys = [_("{host} pid {pid}").format(**s) for s in d.standbys]
    line.append(_("  standby: ") + (", ".join(standbys) if standbys else _("none")))
    return line


def fleet_table(f: FleetView) -> Table:
    t = _table(
        (_("daemon"), False),
        (_("role"), False),
        (_("seen"), True),
        (_("books"), False),
        title=_("daemons checked in"),
    )
    for d in f.daemons:
        seen = _("{seconds}s ago").format(seconds=d["seen_seconds_ago"])
        books = "\n".join(d["books"]) or "-"
        role = _("leader") if d["role"] == "leader" else _("standby")
        t.add_row(_("{host} pid {pid}").format(**d), role, seen, books)
    return t


def unheld_line(f: FleetView) -> Text | None:
    """The books no daemon holds now (a daemon died and the others have not taken them yet,
    or no daemon trades them)."""
    free = [b for b, h in f.books.items() if h is None]
    if not free:
        return None
    return Text(_("not held by any daemon: ") + ", ".join(free), style="yellow")


# -- hedgectl status, show, history, halted -------------------------------------------------


def status_table(views: Sequence[RoundView]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name, right in [
        (_("ID"), True),
        (_("PAIR"), False),
        (_("STATE"), False),
        (_("LEG"), False),
        (_("QTY"), True),
        (_("ENTRY"), True),
        (_("NOW"), True),
        (_("PNL%"), True),
        (_("FUNDING"), True),
        (_("BACKSTOP"), True),
        (_("HEDGE PNL"), True),
        (_("SPREAD bp"), True),
        (_("AGE"), True),
        (_("REASON"), False),
    ]:
        t.add_column(name, justify="right" if right else "left", no_wrap=name != _("REASON"))
    for v in views:
        for i, leg in enumerate(v.legs):
            first = i == 0
            t.add_row(
                str(v.id) if first else "",
                v.pair if first else "",
                state_text(v.state) if first else "",
                leg_name(leg),
                str(leg.qty if leg.qty else leg.entered),
                fmt(leg.entry),
                fmt(leg.price),
                signed(leg.pnl_pct, "0.001"),
                signed(leg.funding),
                backstop_text(leg),
                signed(v.hedge_pnl) if first else "",
                fmt(v.spread_bps, "0.01") if first else "",
                age(v.age_seconds) if first else "",
                (v.reason or "") if first else "",
                end_section=i == len(v.legs) - 1,
            )
    return t


def legs_table(legs: Sequence[LegView]) -> Table:
    t = _table(
        (_("LEG"), False),
        (_("SYMBOL"), False),
        (_("ENTERED"), True),
        (_("OPEN"), True),
        (_("ENTRY"), True),
        (_("NOW"), True),
        (_("PNL%"), True),
        (_("FUNDING"), True),
        (_("BACKSTOP"), True),
        title=_("legs"),
    )
    for leg in legs:
        t.add_row(
            leg_name(leg),
            leg.symbol,
            str(leg.entered),
            str(leg.qty),
            fmt(leg.entry),
            fmt(leg.price),
            signed(leg.pnl_pct, "0.001"),
            signed(leg.funding),
            backstop_text(leg),
        )
    return t


def render_detail(d: RoundDetail) -> RenderableType:
    v = d.view
    head = Text(_("round {id}").format(id=v.id) + f"  {v.pair}  ", style="bold")
    head.append(state_text(v.state))
    if v.reason:
        head.append(f"  {v.reason}")
    facts = Table.grid(padding=(0, 2))
    facts.add_row(_("created"), when(v.created_at), _("qty per leg"), str(d.qty or "-"))
    facts.add_row(_("opened"), when(d.opened_at), _("hedge PnL"), signed(v.hedge_pnl))
    facts.add_row(_("deadline"), when(d.deadline_at), _("realized PnL"), signed(v.realized_pnl))
    facts.add_row(_("ended"), when(v.ended_at), _("fees"), fmt(v.fees))
    facts.add_row("", "", _("funding"), signed(v.funding))
    facts.add_row(_("age"), age(v.age_seconds), _("volume"), fmt(d.volume))
    halted_from = (_("halted from"), d.halted_from) if d.halted_from else ("", "")
    facts.add_row(*halted_from, _("spread bp"), fmt(v.spread_bps, "0.01"))

    orders = _table(
        ("#", True),
        (_("VENUE"), False),
        (_("PURPOSE"), False),
        (_("SIDE"), False),
        (_("TYPE"), False),
        (_("QTY"), True),
        (_("PRICE"), True),
        (_("STATUS"), False),
        (_("FILLED"), False),
        (_("DECIDED AT"), True),
        (_("AVG FILL"), True),
        (_("SLIPPAGE"), True),
        title=_("orders"),
    )
    orders.add_column(_("CLIENT ID"), no_wrap=True)
    orders.add_column(_("NOTE"))
    for o in d.orders:
        note = " ".join(x for x in (o.reject_code, o.reject_message) if x)
        orders.add_row(
            str(o.id),
            o.venue,
            o.purpose,
            o.side,
            o.type + (" RO" if o.reduce_only else ""),
            str(o.qty),
            "-" if o.price is None else str(o.price),
            Text(o.status, style="red" if o.status in ("REJECTED", "AMBIGUOUS") else ""),
            str(o.filled_qty),
            "-" if o.decision_price is None else str(o.decision_price),
            "-" if o.avg_price is None else str(o.avg_price),
            fmt(order_slippage(o)) if o.filled_qty and o.decision_price is not None else "-",
            o.client_id or "-",
            note,
        )

    events = Table(title=_("timeline (UTC)"), title_justify="left", box=box.SIMPLE_HEAD)
    events.add_column(_("TIME"), no_wrap=True)
    events.add_column(_("EVENT"), no_wrap=True)
    events.add_column(_("WHAT"))
    for e in d.timeline:
        style = "bold" if e.kind in ("transition", "command") else ""
        events.add_row(when(e.at, ms=True), e.kind, Text(e.text, style=style))
    parts: list[RenderableType] = [
        head,
        facts,
        costs_table(d.costs, d.finished),
        legs_table(v.legs),
        orders,
        events,
    ]
    for c in d.commands:
        if c.status == "PENDING":
            queued = _("queued: {kind} (command #{id}, since {since})")
            parts.append(
                Text(queued.format(kind=c.kind, id=c.id, since=when(c.created_at)), "yellow")
            )
    return Group(*parts)


def costs_table(c: Costs, finished: bool) -> Table:
    """A round's cost of volume: `hedgectl show` (so far, until the round is DONE)."""
    title = _("what the volume cost") if finished else _("what the volume cost so far")
    t = _table(
        *[(_("VOL {venue}").format(venue=v), True) for v in c.volume],
        (_("MAKER FEES"), True),
        (_("TAKER FEES"), True),
        (_("FUNDING"), True),
        (_("SLIPPAGE"), True),
        (_("PNL"), True),
        (_("COST/10K"), True),
        title=title,
    )
    t.add_row(*_cost_cells(c, finished))
    return t


def _cost_cells(c: Costs, finished: bool = True) -> list[Any]:
    """Volume per venue, maker and taker fees, funding, slippage, realized PnL, and the cost
    per 10,000 USDT of volume (the last two once a round is finished)."""
    return [
        *[fmt(n, "0.01") for n in c.volume.values()],
        fmt(c.maker_fees),
        fmt(c.taker_fees),
        signed(c.funding),
        fmt(c.slippage),
        signed(c.realized_pnl) if finished else "-",
        fmt(c.cost_per_10k, "0.01") if finished else "-",
    ]


def history_table(h: History, by_day: bool = False) -> Table:
    """Finished rounds with a totals row per UTC day and over all (`by_day`: the days only)."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_footer=True)
    cols = [_("DAY (UTC)"), _("ROUND"), _("ENDED"), _("TOOK"), _("REASON")]
    cols += [_("VOL {venue}").format(venue=v) for v in h.total.costs.volume]
    cols += [_("MAKER FEES"), _("TAKER FEES"), _("FUNDING"), _("SLIPPAGE"), _("PNL")]
    cols += [_("COST/10K")]
    footer = _totals_cells(_("total"), h.total)
    for i, (name, foot) in enumerate(zip(cols, footer, strict=True)):
        left = i in (0, 4)  # the day and the reason
        t.add_column(name, footer=foot, justify="left" if left else "right", no_wrap=not left)
    for day in h.days:
        for i, r in enumerate([] if by_day else day.rounds):
            t.add_row(
                day.day.isoformat() if i == 0 else "",
                str(r.id),
                as_utc(r.ended_at).strftime("%H:%M:%S"),
                age(r.duration_seconds),
                r.reason or "",
                *_cost_cells(r.costs),
            )
        title = day.day.isoformat() if by_day else ""
        t.add_row(*_totals_cells(title, day.totals), style="bold", end_section=True)
    return t


def pairs_table(per_pair: dict[str, Totals]) -> Table:
    """`hedgectl history` of several pairs: each pair's totals."""
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    first = next(iter(per_pair.values()))
    cols = [_("PAIR"), _("ROUND"), _("WIN RATE")]
    cols += [_("VOL {venue}").format(venue=v) for v in first.costs.volume]
    cols += [_("MAKER FEES"), _("TAKER FEES"), _("FUNDING"), _("SLIPPAGE"), _("PNL")]
    cols += [_("COST/10K")]
    for i, name in enumerate(cols):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
    for name, x in per_pair.items():
        rate = "-" if x.win_rate is None else f"{x.win_rate * 100:.0f}%"
        rounds = ngettext("{n} round", "{n} rounds", x.rounds).format(n=x.rounds)
        t.add_row(name, rounds, rate, *_cost_cells(x.costs))
    return t


def pair_heading(name: str, blocked: str | None, not_opening: str | None) -> Text:
    """The heading of one pair's rounds in `hedgectl status`, with why it opens none."""
    line = Text(_("pair {name}").format(name=name), style="bold")
    if blocked:
        line.append("  " + _("not opening rounds: {why}").format(why=blocked), style="red")
    elif not_opening:
        line.append("  " + _("no new round: {why}").format(why=not_opening), style="yellow")
    return line


def _totals_cells(title: str, x: Totals) -> list[Any]:
    rate = "-" if x.win_rate is None else f"{x.win_rate * 100:.0f}%"
    return [
        title,
        ngettext("{n} round", "{n} rounds", x.rounds).format(n=x.rounds),
        "",
        "",
        _("win rate {rate} ({wins}/{rounds})").format(rate=rate, wins=x.wins, rounds=x.rounds),
        *_cost_cells(x.costs),
    ]


ROUND_COLUMNS = ("day", "id", "pair", "reason", "ended_at", "duration_seconds")
DAY_COLUMNS = ("day", "rounds", "wins", "win_rate")


def history_csv(h: History, out: TextIO, by_day: bool = False) -> None:
    """`hedgectl history --csv`, for spreadsheets and tax tools: RFC 4180, a header row, one
    row per round (`by_day`: per UTC day), the `--json` field names, amounts as plain digits."""
    costs = list(_flat(costs_json(Costs())))
    writer = csv.DictWriter(
        out, [*(DAY_COLUMNS if by_day else ROUND_COLUMNS), *costs], lineterminator="\r\n"
    )
    writer.writeheader()
    for day in h.days:
        when = {"day": day.day.isoformat()}
        if by_day:
            writer.writerow(when | _flat(day.totals.to_json()))
        else:
            writer.writerows(when | _flat(r.to_json()) for r in day.rounds)


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """A `--json` entry as one CSV row: the volume per venue as `volume_<venue>` columns."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= {f"{key}_{k}": v for k, v in value.items()}
        else:
            flat[key] = value
    return flat


def halted_table(views: Sequence[HaltedView]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    names = (_("ID"), _("PAIR"), _("HALTED AT (UTC)"), _("FROM"), _("OPEN LEGS"), _("REASON"))
    for i, name in enumerate(names):
        t.add_column(name, justify="right" if i == 0 else "left", no_wrap=i != len(names) - 1)
    for h in views:
        v = h.view
        open_legs = ", ".join(f"{leg_name(leg)} {leg.qty}" for leg in v.legs if leg.qty)
        t.add_row(
            str(v.id),
            v.pair,
            when(h.halted_at),
            h.halted_from or "-",
            open_legs or _("none"),
            v.reason or "",
        )
    return t


# -- the monitoring block: hedgectl watch and the daemon's terminal monitor ---------------


def monitor_block(
    counter: int,
    at: datetime,
    quotes: Sequence[Quote],
    rounds: Sequence[RoundView],
    funding: Sequence[FundingView] = (),
) -> RenderableType:
    """The original strategy's monitoring block: a counter; the venues' prices (and their
    next funding settlements); the active rounds and open positions; per round the entry
    price, the price now and the change since opening, each leg's side, quantity, entry,
    current price, PnL %, funding so far and state, the hedge's PnL, the price gap between
    the venues in dollars and the spread in bp."""
    active = [v for v in rounds if v.state in ACTIVE_STATES]
    positions = sum(1 for v in active for leg in v.legs if leg.qty)
    head = Text(_("#{n}").format(n=counter), style="bold")
    head.append("  " + _("{at} UTC").format(at=when(at)))
    head.append(
        "  "
        + _("active rounds {rounds}, open positions {positions}").format(
            rounds=len(active), positions=positions
        )
    )
    prices = Text()
    for q in quotes:
        prices.append(
            _("{venue} {symbol} bid {bid} ask {ask}").format(
                venue=q.venue, symbol=q.symbol, bid=q.bid, ask=q.ask
            )
            + "   "
        )
    parts: list[RenderableType] = [head, prices if quotes else Text(_("no prices yet"))]
    if funding:
        parts.append(funding_line(funding))
    parts += [_round_block(v) for v in active] or [Text(_("no open rounds"), style="dim")]
    return Group(*parts)


def _round_block(v: RoundView) -> RenderableType:
    line = Text(_("round {id}").format(id=v.id) + " ", style="bold").append(state_text(v.state))
    line.append(
        "  "
        + _("entry {entry}  now {now}  change ").format(entry=fmt(v.entry_price), now=fmt(v.price))
    )
    line.append(signed(v.change_pct, "0.001", "%"))
    legs = _table(
        (_("LEG"), False),
        (_("SIDE"), False),
        (_("QTY"), True),
        (_("ENTRY"), True),
        (_("NOW"), True),
        (_("PNL%"), True),
        (_("LEG STATE"), False),
        (_("BACKSTOP"), True),
        (_("FUNDING"), True),
    )
    for leg in v.legs:
        legs.add_row(
            leg_name(leg),
            side_name(leg.side),
            str(leg.qty if leg.qty else leg.entered),
            fmt(leg.entry),
            fmt(leg.price),
            signed(leg.pnl_pct, "0.001", "%"),
            _(LEG_STATE.get(leg.state, leg.state)),
            backstop_text(leg),
            signed(leg.funding),
        )
    totals = Text(_("hedge PnL") + " ").append(signed(v.hedge_pnl))
    totals.append(
        "  "
        + _("price gap ${gap}  spread {spread} bp").format(
            gap=fmt(v.gap), spread=fmt(v.spread_bps, "0.01")
        )
    )
    if v.reason:
        totals.append(f"  ({v.reason})", style="dim")
    return Group(line, legs, totals)


def render_frame(counter: int, s: Snapshot) -> RenderableType:
    """One screen of `hedgectl watch`: the daemon, the monitoring block, every round."""
    title = Text("hedged  ", style="bold").append(daemon_line(s.daemon))
    quotes = [Quote(q.venue, q.symbol, q.bid, q.ask, 0.0) for q in s.quotes]
    parts: list[RenderableType] = [
        title,
        monitor_block(counter, s.at, quotes, s.rounds, s.funding or ()),
    ]
    parts.append(status_table(s.rounds) if s.rounds else Text(_("no rounds yet")))
    parts.append(Text(_("Ctrl-C to quit"), style="dim"))
    return Group(*parts)
