"""`hedgectl`: inspect and steer hedged. Reads the store directly, so every read command
works while the daemon is down; steering commands are queued in the store, applied by the
daemon on its next loop pass and acknowledged there.

Exit codes: 0 ok, 1 not found, 2 usage, 3 not acknowledged in time, 4 refused or failed,
78 configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hedged import config as config_mod
from hedged.config import EX_CONFIG, ConfigError
from hedged.report import (
    DaemonView,
    HaltedView,
    History,
    LegView,
    RoundDetail,
    RoundView,
    Snapshot,
    Totals,
    command_json,
    daemon_view,
    halted,
    history,
    round_detail,
    snapshot,
    status,
)
from hedged.states.machine import RESUMABLE, RoundMachine, Trigger
from hedged.store import (
    ACTIVE_STATES,
    CommandRow,
    NotHedgedDatabase,
    RoundRow,
    SchemaTooNew,
    SchemaTooOld,
    Store,
    as_utc,
)

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2
EXIT_NO_ACK = 3  # the daemon did not apply the command in time; it stays queued
EXIT_REFUSED = 4  # refused by hedgectl's own check (nothing queued) or failed in the daemon
EXIT_INTERRUPTED = 130  # Ctrl-C, the shell's convention (watch ends with 0 instead)
EXIT_OUTPUT_CLOSED = 141  # the output's reader went away (`| head`): as if ended by SIGPIPE

EPILOG = """\
exit codes:
  0   ok
  1   not found: no database (or it cannot be opened), no such round
  2   usage error
  3   the daemon did not acknowledge the command within --timeout; the command stays
      queued and is applied when the daemon next runs
  4   the command was refused: by hedgectl's own check (then nothing was queued)
      or by the daemon when it applied it
  78  configuration error: a bad --config; a --db that is not a hedged database (an
      empty file, another application's database, a directory), or whose schema is
      newer or older than this hedgectl
  130 interrupted by Ctrl-C (but `watch` ends with 0: that is how one leaves it;
      a steering command interrupted while waiting exits 3, and stays queued)
  141 the output was closed before all of it was written (e.g. `| head`), quietly,
      like a tool ended by SIGPIPE

Read commands (status, show, history, watch, halted) work while the daemon is down and
open the database read-only: they never create or change anything (a read-only copy works).
Steering commands (pause, resume, close, flatten) wait for the daemon's acknowledgement.
"""

WIDE = 200  # columns for piped or captured output, so no table cell wraps mid-word
POLL_SECONDS = 0.1  # how often a steering command looks for the daemon's acknowledgement
STATE_STYLE = {
    "OPENING": "magenta",
    "MONITORING": "cyan",
    "LIMIT_SET": "blue",
    "CLOSING": "yellow",
    "DONE": "green",
    "HALTED": "bold red",
}


# -- the command line -----------------------------------------------------------------------


_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


def _number(kind: Callable[[str], Any], low: float, high: float, what: str) -> Callable[[str], Any]:
    """A strict parser: ASCII digits only (int() and float() also take fullwidth digits,
    '2_0', ' 2', '1e9', 'nan'), within bounds that no query or date computation overflows."""
    pattern = _INTEGER if kind is int else _DECIMAL

    def parse(text: str) -> Any:
        shown = repr(text if len(text) <= 24 else text[:20] + "...")
        if not pattern.fullmatch(text):
            raise argparse.ArgumentTypeError(f"{what} expected (ASCII digits), got {shown}")
        # the length first: int() refuses more than 4,300 digits (a ValueError)
        if len(text) > 20 or not low <= kind(text) <= high:
            raise argparse.ArgumentTypeError(f"{what} from {low} to {high} expected, got {shown}")
        return kind(text)

    return parse


ROUND_MAX = 2**31 - 1  # PostgreSQL's integer: no round id is larger
_round_id = _number(int, 1, ROUND_MAX, "a round number")
_seconds = _number(float, 0, 86_400, "a number of seconds")
_interval = _number(float, 0.1, 3_600, "a number of seconds")
_count = _number(int, 0, 100_000, "a count")
_days = _number(int, 1, 36_500, "a number of days")


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="the daemon's TOML configuration")
    common.add_argument("--db", help="SQLAlchemy database URL (default: the config's store.url)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    steer = argparse.ArgumentParser(add_help=False)
    steer.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        help="seconds to wait for the daemon's acknowledgement (10; 0: do not wait)",
    )
    p = argparse.ArgumentParser(
        prog="hedgectl",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common, *parents],
            help=text,
            description=textwrap.fill(text, 88),
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    st = command("status", "active rounds and the most recent finished ones")
    st.add_argument("--recent", type=_count, default=10, help="finished rounds to show (10)")
    sh = command("show", "one round: legs, orders and its timeline from the event journal")
    sh.add_argument("round", type=_round_id, metavar="ROUND")
    hi = command("history", "finished rounds with totals, grouped by UTC day")
    hi.add_argument(
        "--days", type=_days, help="only the last N UTC days, today included (default: all)"
    )
    wa = command(
        "watch",
        "a live status view with prices and each leg's PnL; Ctrl-C ends it (exit 0). "
        "Piped, or with --json (one object per line), it prints frame after frame",
    )
    wa.add_argument("--interval", type=_interval, default=2.0, help="seconds between frames (2)")
    wa.add_argument("--recent", type=_count, default=5, help="finished rounds to show (5)")
    wa.add_argument("--once", action="store_true", help="render one frame and exit")
    command("halted", "rounds that need an operator, with their halt reasons")
    command("pause", "stop opening new rounds (open rounds carry on)", steer)
    rs = command(
        "resume",
        "without ROUND: open rounds again; with ROUND: resume that HALTED round",
        steer,
    )
    rs.add_argument("round", type=_round_id, nargs="?", metavar="ROUND")
    cl = command("close", "close a round now: cancel its orders, close its legs at market", steer)
    cl.add_argument("round", type=_round_id, metavar="ROUND")
    command("flatten", "pause, and close every open round now", steer)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2, message printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    try:
        store = open_store(args)
    except (ConfigError, SchemaTooNew, SchemaTooOld) as e:
        return fail(f"configuration error: {e}", EX_CONFIG)
    except NotHedgedDatabase as e:
        return fail(f"{_safe_url(args)}: {e}; --db chooses another", EX_CONFIG)
    except FileNotFoundError as e:
        return fail(f"{e} (has hedged run yet? --db chooses another)", EXIT_NOT_FOUND)
    except (OSError, SQLAlchemyError) as e:
        return fail(f"cannot open the database {_safe_url(args)}: {_first_line(e)}", EXIT_NOT_FOUND)
    out = console(sys.stdout)
    try:
        return COMMANDS[args.command](store, args, out)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_OUTPUT_CLOSED
    finally:
        store.close()


def _discard_stdout() -> None:
    """So that the interpreter's last flush of what is buffered does not fail again."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (captured in a test)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def open_store(args: argparse.Namespace) -> Store:
    """Read-only (nothing created, a read-only copy works) after checking that it is a hedged
    database; a steering command then reopens it writable to queue its command."""
    url = config_mod.load(args.config, overrides={"store.url": args.db}).store.url
    store = Store(url, readonly=True)
    if COMMANDS[args.command] is cmd_steer:
        store.close()
        store = Store(url)
    return store


class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # rich would exit 1 itself: main handles it as for print()


def console(file: TextIO) -> Console:
    width = None if file.isatty() or "COLUMNS" in os.environ else WIDE
    # Venue messages and reasons are shown as they are: no markup, emoji codes or highlighting.
    return _Console(file=file, width=width, highlight=False, markup=False, emoji=False)


def fail(message: str, code: int) -> int:
    print(f"hedgectl: {message}", file=sys.stderr)
    return code


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _safe_url(args: argparse.Namespace) -> str:
    try:
        url = args.db or config_mod.load(args.config).store.url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only for an error message: never let it raise
        return "(unreadable URL)"


def _first_line(e: BaseException) -> str:
    cause = getattr(e, "orig", None) or e
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


# -- read commands --------------------------------------------------------------------------


def cmd_status(store: Store, args: argparse.Namespace, out: Console) -> int:
    views = status(store, args.recent)
    daemon = daemon_view(store)
    if args.json:
        emit_json({"daemon": daemon.to_json(), "rounds": [v.to_json() for v in views]})
        return EXIT_OK
    out.print(daemon_line(daemon))
    out.print(status_table(views) if views else "no rounds yet")
    return EXIT_OK


def cmd_show(store: Store, args: argparse.Namespace, out: Console) -> int:
    detail = round_detail(store, args.round)
    if detail is None:
        return fail(f"no round {args.round}", EXIT_NOT_FOUND)
    if args.json:
        emit_json(detail.to_json())
    else:
        out.print(render_detail(detail))
    return EXIT_OK


def cmd_history(store: Store, args: argparse.Namespace, out: Console) -> int:
    h = history(store, args.days)
    if args.json:
        emit_json(h.to_json())
    elif not h.days:
        scope = f" in the last {args.days} days" if args.days else " yet"
        out.print(f"no finished rounds{scope}")
    else:
        out.print(history_table(h))
    return EXIT_OK


def cmd_halted(store: Store, args: argparse.Namespace, out: Console) -> int:
    views = halted(store)
    if args.json:
        emit_json([v.to_json() for v in views])
    elif not views:
        out.print("no halted rounds")
    else:
        out.print(halted_table(views))
        out.print(
            "An operator decides: `hedgectl resume ROUND` takes a round back to the state it "
            "halted in, `hedgectl close ROUND` closes its legs at market."
        )
    return EXIT_OK


def cmd_watch(store: Store, args: argparse.Namespace, out: Console) -> int:
    """Redraw until Ctrl-C; a terminal gets one live frame, a pipe gets frame after frame."""
    # Started with SIGINT ignored (nohup, a background job), Ctrl-C would not end the view.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if args.once or not out.is_terminal or args.json:
            while True:
                frame = snapshot(store, args.recent)
                if args.json:
                    print(json.dumps(frame.to_json()), flush=True)
                else:
                    out.print(render_frame(frame))
                    out.file.flush()
                if args.once:
                    return EXIT_OK
                time.sleep(args.interval)
        with Live(
            render_frame(snapshot(store, args.recent)), console=out, auto_refresh=False
        ) as live:
            while True:
                time.sleep(args.interval)
                live.update(render_frame(snapshot(store, args.recent)), refresh=True)
    except KeyboardInterrupt:  # the way out of a live view: not an error
        return EXIT_OK


# -- steering commands ----------------------------------------------------------------------


def cmd_steer(store: Store, args: argparse.Namespace, out: Console) -> int:
    kind: str = args.command
    target: int | None = getattr(args, "round", None)
    label = kind if target is None else f"{kind} round {target}"
    if target is not None:
        r = store.get_round(target)
        if r is None:
            return fail(f"no round {target}; nothing queued", EXIT_NOT_FOUND)
        if why := refusal(kind, r):
            return fail(f"{label} refused: {why}; nothing queued", EXIT_REFUSED)
    command, queued_before = queue(store, kind, target)
    assert command.id is not None
    if not args.json:
        already = "was already queued" if queued_before else "queued"
        out.print(f"{label}: {already} as command #{command.id}")
    waited = f"within {args.timeout:g}s"
    try:
        row = wait_for(store, command.id, args.timeout)
    except KeyboardInterrupt:  # Ctrl-C stops the waiting, not the command
        row, waited = store.get_command(command.id) or command, "(waiting interrupted)"
    if args.json:
        emit_json(command_json(row))
    if row.status == "DONE":
        if not args.json:
            out.print(f"{label}: done: {row.result}")
        return EXIT_OK
    if row.status == "FAILED":
        return fail(f"the daemon refused {label}: {row.result}", EXIT_REFUSED)
    return fail(
        f"{label} (command #{row.id}) not acknowledged {waited}; "
        f"{daemon_hint(daemon_view(store), row.created_at)}. "
        "The command stays queued and will be applied when the daemon next runs.",
        EXIT_NO_ACK,
    )


def refusal(kind: str, r: RoundRow) -> str | None:
    """Why the daemon would refuse `kind` on this round now, if it would (checked locally
    so that nothing doomed gets queued)."""
    if kind == "close" and not RoundMachine(r.state, r.halted_from).allows(Trigger.OPERATOR_CLOSE):
        if r.state == "DONE":
            return f"round {r.id} is already DONE"
        return f"round {r.id} is {r.state}: it is already being closed"
    if kind == "resume" and r.state != "HALTED":
        return (
            f"round {r.id} is {r.state}, not HALTED: only a halted round can be resumed "
            "(`hedgectl resume` without a round reopens rounds)"
        )
    if kind == "resume" and r.halted_from not in RESUMABLE:
        return f"round {r.id} does not record where it halted from: close it instead"
    return None


def queue(store: Store, kind: str, target: int | None) -> tuple[CommandRow, bool]:
    """Queue a command, or wait on the same one already queued: a round's command applied
    twice fails the second time; a global one is reused only if nothing was queued after it
    (so pause, resume, pause still ends paused)."""
    pending = store.pending_commands()
    same = [c for c in pending if c.kind == kind and c.round_id == target]
    if same and target is not None:
        return same[0], True
    if same and pending[-1] is same[-1]:
        return same[-1], True
    return store.add_command(kind, target), False


def wait_for(store: Store, command_id: int, timeout: float) -> CommandRow:
    deadline = time.monotonic() + timeout
    while True:
        row = store.get_command(command_id)
        assert row is not None, f"command {command_id} vanished"
        left = deadline - time.monotonic()
        if row.status != "PENDING" or left <= 0:
            return row
        time.sleep(min(POLL_SECONDS, left))


COMMANDS: dict[str, Callable[[Store, argparse.Namespace, Console], int]] = {
    "status": cmd_status,
    "show": cmd_show,
    "history": cmd_history,
    "watch": cmd_watch,
    "halted": cmd_halted,
    "pause": cmd_steer,
    "resume": cmd_steer,
    "close": cmd_steer,
    "flatten": cmd_steer,
}


# -- rendering ------------------------------------------------------------------------------

DOWN_AFTER_SECONDS = 60.0  # no price saved for this long: the daemon is most likely down


def _fmt(value: Decimal | None, places: str = "0.0001") -> str:
    return "-" if value is None else str(value.quantize(Decimal(places)))


def _signed(value: Decimal | None, places: str = "0.0001", suffix: str = "") -> Text:
    if value is None:
        return Text("-")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value.quantize(Decimal(places)):+}{suffix}", style=style)


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))


def _when(at: datetime | None, ms: bool = False) -> str:
    if at is None:
        return "-"
    text = as_utc(at).strftime("%Y-%m-%d %H:%M:%S.%f" if ms else "%Y-%m-%d %H:%M:%S")
    return text[:-3] if ms else text


def _age(total: float) -> str:
    s = int(total)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _leg_name(leg: LegView) -> str:
    return f"{leg.venue} {'short' if leg.side == 'SELL' else 'long'}"


def daemon_hint(d: DaemonView, queued_at: datetime) -> str:
    """Why a command may be waiting: a running daemon saves prices every loop pass."""
    age = d.price_age()
    if age is None or d.last_price_at is None:
        return "the daemon has never saved a price in this database (has it run?)"
    if as_utc(d.last_price_at) < as_utc(queued_at):
        return (
            f"the daemon looks down (no sign of it since the command was queued; "
            f"last price update {_age(age)} ago)"
        )
    return f"the daemon is running (last price update {_age(age)} ago) but has not applied it yet"


def daemon_line(d: DaemonView) -> Text:
    age = d.price_age()
    if age is None:
        seen = Text("no price saved yet", style="yellow")
    else:
        down = age > DOWN_AFTER_SECONDS
        seen = Text(
            f"last price update {_age(age)} ago" + (" (down?)" if down else ""),
            style="yellow" if down else "",
        )
    line = Text("daemon: ").append(seen).append("  new rounds: ")
    line.append(
        "paused by operator" if d.paused else "not paused", style="yellow" if d.paused else "green"
    )
    if d.pending_commands:
        line.append(f"  queued commands: {d.pending_commands}", style="yellow")
    line.append("\n").append(leadership_line(d))
    if d.blocked:
        line.append(f"\nnot opening rounds: {d.blocked}", style="red")
    elif d.not_opening and not d.paused:
        line.append(f"\nno new round: {d.not_opening}", style="yellow")
    return line


def leadership_line(d: DaemonView) -> Text:
    leading = [x for x in d.leaders if x["leading"]]
    if not leading:
        line = Text("no daemon leading", style="red")
    else:
        line = Text("leader: ")
        for i, x in enumerate(leading):
            line.append("; " if i else "").append(
                f"{x['host']} pid {x['pid']} since {x['since']} (epoch {x['epoch']})",
                style="green",
            )
    standbys = [f"{s['host']} pid {s['pid']}" for s in d.standbys]
    line.append("  standby: " + (", ".join(standbys) if standbys else "none"))
    return line


def status_table(views: list[RoundView]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name, right in [
        ("ID", True),
        ("PAIR", False),
        ("STATE", False),
        ("LEG", False),
        ("QTY", True),
        ("ENTRY", True),
        ("NOW", True),
        ("PNL%", True),
        ("HEDGE PNL", True),
        ("SPREAD bp", True),
        ("AGE", True),
        ("REASON", False),
    ]:
        t.add_column(name, justify="right" if right else "left", no_wrap=name != "REASON")
    for v in views:
        for i, leg in enumerate(v.legs):
            first = i == 0
            t.add_row(
                str(v.id) if first else "",
                v.pair if first else "",
                _state(v.state) if first else "",
                _leg_name(leg),
                str(leg.qty if leg.qty else leg.entered),
                _fmt(leg.entry),
                _fmt(leg.price),
                _signed(leg.pnl_pct, "0.001"),
                _signed(v.hedge_pnl) if first else "",
                _fmt(v.spread_bps, "0.01") if first else "",
                _age(v.age_seconds) if first else "",
                (v.reason or "") if first else "",
                end_section=i == len(v.legs) - 1,
            )
    return t


def legs_table(legs: list[LegView]) -> Table:
    t = Table(title="legs", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("LEG", "SYMBOL", "ENTERED", "OPEN", "ENTRY", "NOW", "PNL%"):
        t.add_column(name, justify="left" if name in ("LEG", "SYMBOL") else "right")
    for leg in legs:
        t.add_row(
            _leg_name(leg),
            leg.symbol,
            str(leg.entered),
            str(leg.qty),
            _fmt(leg.entry),
            _fmt(leg.price),
            _signed(leg.pnl_pct, "0.001"),
        )
    return t


def render_detail(d: RoundDetail) -> RenderableType:
    v = d.view
    head = Text(f"round {v.id}  {v.pair}  ", style="bold").append(_state(v.state))
    if v.reason:
        head.append(f"  {v.reason}")
    facts = Table.grid(padding=(0, 2))
    facts.add_row("created", _when(v.created_at), "qty per leg", str(d.qty or "-"))
    facts.add_row("opened", _when(d.opened_at), "hedge PnL", _signed(v.hedge_pnl))
    facts.add_row("deadline", _when(d.deadline_at), "realized PnL", _signed(v.realized_pnl))
    facts.add_row("ended", _when(v.ended_at), "fees", _fmt(v.fees))
    facts.add_row("age", _age(v.age_seconds), "volume", _fmt(d.volume))
    if d.halted_from:
        facts.add_row("halted from", d.halted_from, "spread bp", _fmt(v.spread_bps, "0.01"))
    else:
        facts.add_row("", "", "spread bp", _fmt(v.spread_bps, "0.01"))

    orders = Table(title="orders", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("#", "VENUE", "PURPOSE", "SIDE", "TYPE", "QTY", "PRICE", "STATUS", "FILLED"):
        orders.add_column(name, justify="right" if name in ("#", "QTY", "PRICE") else "left")
    orders.add_column("AVG", justify="right")
    orders.add_column("CLIENT ID", no_wrap=True)
    orders.add_column("NOTE")
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
            "-" if o.avg_price is None else str(o.avg_price),
            o.client_id or "-",
            note,
        )

    events = Table(title="timeline (UTC)", title_justify="left", box=box.SIMPLE_HEAD)
    events.add_column("TIME", no_wrap=True)
    events.add_column("EVENT", no_wrap=True)
    events.add_column("WHAT")
    for e in d.timeline:
        style = "bold" if e.kind in ("transition", "command") else ""
        events.add_row(_when(e.at, ms=True), e.kind, Text(e.text, style=style))
    parts: list[RenderableType] = [head, facts, legs_table(v.legs), orders, events]
    for c in d.commands:
        if c.status == "PENDING":
            parts.append(
                Text(f"queued: {c.kind} (command #{c.id}, since {_when(c.created_at)})", "yellow")
            )
    return Group(*parts)


def history_table(h: History) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_footer=True)
    venues = list(h.total.volume)
    cols = ["DAY (UTC)", "ROUND", "ENDED", "TOOK", "REASON", "PNL", "FEES"]
    cols += [f"VOL {v}" for v in venues]
    footer = _totals_cells("total", h.total, venues)
    for name, foot in zip(cols, footer, strict=True):
        left = name in ("DAY (UTC)", "REASON")
        t.add_column(name, footer=foot, justify="left" if left else "right", no_wrap=not left)
    for day in h.days:
        for i, r in enumerate(day.rounds):
            t.add_row(
                day.day.isoformat() if i == 0 else "",
                str(r.id),
                as_utc(r.ended_at).strftime("%H:%M:%S"),
                _age(r.duration_seconds),
                r.reason or "",
                _signed(r.realized_pnl),
                _fmt(r.fees),
                *[_fmt(r.volume.get(v), "0.01") for v in venues],
            )
        t.add_row(*_totals_cells("", day.totals, venues), style="bold", end_section=True)
    return t


def _totals_cells(title: str, x: Totals, venues: list[str]) -> list[Any]:
    rate = "-" if x.win_rate is None else f"{x.win_rate * 100:.0f}%"
    return [
        title,
        f"{x.rounds} round{'' if x.rounds == 1 else 's'}",
        "",
        "",
        f"win rate {rate} ({x.wins}/{x.rounds})",
        _signed(x.realized_pnl),
        _fmt(x.fees),
        *[_fmt(x.volume.get(v), "0.01") for v in venues],
    ]


def halted_table(views: list[HaltedView]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("ID", "PAIR", "HALTED AT (UTC)", "FROM", "OPEN LEGS", "REASON"):
        t.add_column(name, justify="right" if name == "ID" else "left", no_wrap=name != "REASON")
    for h in views:
        v = h.view
        open_legs = ", ".join(f"{_leg_name(leg)} {leg.qty}" for leg in v.legs if leg.qty) or "none"
        t.add_row(
            str(v.id), v.pair, _when(h.halted_at), h.halted_from or "-", open_legs, v.reason or ""
        )
    return t


def monitor_lines(s: Snapshot, v: RoundView) -> Text:
    """The original strategy's monitoring lines for one open round: both venues' prices,
    each leg's entry, current price and PnL %, the hedge PnL and the spread."""
    quotes = {(q.venue, q.symbol): q for q in s.quotes}
    text = Text(f"round {v.id} ", style="bold").append(_state(v.state))
    for leg in v.legs:
        q = quotes.get((leg.venue, leg.symbol))
        prices = "no price" if q is None else f"bid {q.bid} ask {q.ask}"
        text.append(f"  {leg.venue} {leg.symbol} {prices}")
    for leg in v.legs:
        text.append(f"\n  {_leg_name(leg):<14} ")
        if not leg.qty:
            text.append(f"closed (entered {leg.entered} @ {_fmt(leg.entry)})", style="dim")
            continue
        text.append(f"{leg.qty} entry {_fmt(leg.entry)}  now {_fmt(leg.price)}  PnL ")
        text.append(_signed(leg.pnl_pct, "0.001", "%"))
    text.append("\n  hedge PnL ").append(_signed(v.hedge_pnl))
    text.append(f"  spread {_fmt(v.spread_bps, '0.01')} bp")
    if v.reason:
        text.append(f"  ({v.reason})", style="dim")
    return text


def render_frame(s: Snapshot) -> RenderableType:
    title = Text(f"hedged  {_when(s.at)} UTC  ", style="bold").append(daemon_line(s.daemon))
    quotes = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("VENUE", "SYMBOL", "BID", "ASK", "MID", "SAVED"):
        quotes.add_column(name, justify="left" if name in ("VENUE", "SYMBOL") else "right")
    for q in s.quotes:
        age = (s.at - as_utc(q.at)).total_seconds()
        quotes.add_row(
            q.venue, q.symbol, str(q.bid), str(q.ask), str((q.bid + q.ask) / 2), f"{_age(age)} ago"
        )
    live = [monitor_lines(s, v) for v in s.rounds if v.state in ACTIVE_STATES]
    parts: list[RenderableType] = [title, quotes if s.quotes else Text("no prices saved yet")]
    parts += live or [Text("no open rounds", style="dim")]
    parts.append(status_table(s.rounds) if s.rounds else Text("no rounds yet"))
    parts.append(Text("Ctrl-C to quit", style="dim"))
    return Group(*parts)


if __name__ == "__main__":
    sys.exit(main())
