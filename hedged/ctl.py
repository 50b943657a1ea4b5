"""`hedgectl`: inspect and steer hedged: the command line, reading the store, queueing
steering commands and waiting for their acknowledgement. What it prints is drawn by
`hedged.views`.

Exit codes: 0 ok, 1 not found, 2 usage, 3 not acknowledged in time, 4 refused or failed,
78 configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import signal
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hedged import config as config_mod
from hedged.config import EX_CONFIG, ConfigError
from hedged.i18n import N_, _, add_lang_option, choose, use
from hedged.report import (
    RoundView,
    command_json,
    daemon_view,
    fleet_view,
    funding_rates,
    halted,
    history,
    pair_symbols,
    pair_totals,
    round_detail,
    snapshot,
    status,
)
from hedged.states.machine import RESUMABLE, RoundMachine, Trigger
from hedged.store import (
    CommandRow,
    NotHedgedDatabase,
    RoundRow,
    SchemaTooNew,
    SchemaTooOld,
    Store,
)
from hedged.views import (
    daemon_hint,
    daemon_line,
    fleet_table,
    funding_line,
    halted_table,
    history_csv,
    history_table,
    pair_heading,
    pairs_table,
    render_detail,
    render_frame,
    status_table,
    unheld_line,
)

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2
EXIT_NO_ACK = 3  # the daemon did not apply the command in time; it stays queued
EXIT_REFUSED = 4  # refused by hedgectl's own check (nothing queued) or failed in the daemon
EXIT_INTERRUPTED = 130  # Ctrl-C, the shell's convention (watch ends with 0 instead)
EXIT_OUTPUT_CLOSED = 141  # the output's reader went away (`| head`): as if ended by SIGPIPE

DESCRIPTION = N_(
    "hedgectl: inspect and steer hedged. Reads the store directly, so every read command works "
    "while the daemon is down; steering commands are queued in the store, applied by the daemon "
    "on its next loop pass and acknowledged there."
)
EPILOG = N_("""\
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
""")

WIDE = 200  # columns for piped or captured output, so no table cell wraps mid-word
POLL_SECONDS = 0.1  # how often a steering command looks for the daemon's acknowledgement


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
            message = _("{what} expected (ASCII digits), got {shown}")
            raise argparse.ArgumentTypeError(message.format(what=_(what), shown=shown))
        # the length first: int() refuses more than 4,300 digits (a ValueError)
        if len(text) > 20 or not low <= kind(text) <= high:
            message = _("{what} from {low} to {high} expected, got {shown}")
            raise argparse.ArgumentTypeError(
                message.format(what=_(what), low=low, high=high, shown=shown)
            )
        return kind(text)

    return parse


ROUND_MAX = 2**31 - 1  # PostgreSQL's integer: no round id is larger
_round_id = _number(int, 1, ROUND_MAX, N_("a round number"))
_seconds = _number(float, 0, 86_400, N_("a number of seconds"))
_interval = _number(float, 0.1, 3_600, N_("a number of seconds"))
_count = _number(int, 0, 100_000, N_("a count"))
_days = _number(int, 1, 36_500, N_("a number of days"))
_PAIR = re.compile(r"[A-Z0-9]{2,24}(USDT|_USDC_PERP)(/[A-Z0-9]{2,24}_USDC_PERP)?", re.ASCII)


def _pair(text: str) -> str:
    """A pair as the configuration names its symbols: `SOLUSDT`, `SOL_USDC_PERP`, or both."""
    if not _PAIR.fullmatch(text):
        message = _("a pair expected, like SOLUSDT or SOL_USDC_PERP, got {shown}")
        raise argparse.ArgumentTypeError(message.format(shown=repr(text[:40])))
    return text


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help=_("the daemon's TOML configuration"))
    common.add_argument("--db", help=_("SQLAlchemy database URL (default: the config's store.url)"))
    common.add_argument("--json", action="store_true", help=_("machine-readable output"))
    add_lang_option(common)
    by_pair = argparse.ArgumentParser(add_help=False)
    by_pair.add_argument(
        "--pair",
        type=_pair,
        help=_("only this pair's rounds (its Aster or Backpack symbol); default: every pair"),
    )
    steer = argparse.ArgumentParser(add_help=False)
    steer.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        help=_("seconds to wait for the daemon's acknowledgement (10; 0: do not wait)"),
    )
    p = argparse.ArgumentParser(
        prog="hedgectl",
        description=textwrap.fill(_(DESCRIPTION), 88),
        epilog=_(EPILOG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_lang_option(p)
    sub = p.add_subparsers(dest="command", required=True, metavar=_("COMMAND"))

    def command(name: str, text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common, *parents],
            help=text,
            description=textwrap.fill(text, 88),
            epilog=_(EPILOG),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    round_ = _("ROUND")
    st = command("status", _("active rounds and the most recent finished ones"), by_pair)
    st.add_argument("--recent", type=_count, default=10, help=_("finished rounds to show (10)"))
    sh = command("show", _("one round: legs, orders and its timeline from the event journal"))
    sh.add_argument("round", type=_round_id, metavar=round_)
    hi = command(
        "history",
        _(
            "finished rounds grouped by UTC day, with what their volume cost: volume per venue, "
            "maker and taker fees, funding, slippage, realized PnL and the cost per 10,000 USDT "
            "of volume"
        ),
        by_pair,
    )
    hi.add_argument(
        "--days", type=_days, help=_("only the last N UTC days, today included (default: all)")
    )
    hi.add_argument(
        "--csv",
        action="store_true",
        help=_("CSV for spreadsheets and tax tools: a header row, then one row per round"),
    )
    hi.add_argument(
        "--by-day", action="store_true", help=_("one row per UTC day, not per round (table, CSV)")
    )
    wa = command(
        "watch",
        _(
            "a live status view with prices and each leg's PnL; Ctrl-C ends it (exit 0). "
            "Piped, or with --json (one object per line), it prints frame after frame"
        ),
        by_pair,
    )
    wa.add_argument("--interval", type=_interval, default=2.0, help=_("seconds between frames (2)"))
    wa.add_argument("--recent", type=_count, default=5, help=_("finished rounds to show (5)"))
    wa.add_argument("--once", action="store_true", help=_("render one frame and exit"))
    command("halted", _("rounds that need an operator, with their halt reasons"), by_pair)
    command("pause", _("stop opening new rounds (open rounds carry on)"), steer)
    rs = command(
        "resume",
        _("without ROUND: open rounds again; with ROUND: resume that HALTED round"),
        steer,
    )
    rs.add_argument("round", type=_round_id, nargs="?", metavar=round_)
    cl = command(
        "close", _("close a round now: cancel its orders, close its legs at market"), steer
    )
    cl.add_argument("round", type=_round_id, metavar=round_)
    command("flatten", _("pause, and close every open round now"), steer)
    command(
        "fleet",
        _("the daemons on this store: role, last check-in and the books (pairs) each holds"),
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    choose(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2, message printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if args.json:
        use("en")  # machine-readable: English throughout
    try:
        store = open_store(args)
    except (ConfigError, SchemaTooNew, SchemaTooOld) as e:
        return fail(_("configuration error: {error}").format(error=e), EX_CONFIG)
    except NotHedgedDatabase as e:
        message = _("{url}: {error}; --db chooses another")
        return fail(message.format(url=_safe_url(args), error=e), EX_CONFIG)
    except FileNotFoundError as e:
        message = _("{error} (has hedged run yet? --db chooses another)")
        return fail(message.format(error=e), EXIT_NOT_FOUND)
    except (OSError, SQLAlchemyError) as e:
        message = _("cannot open the database {url}: {error}")
        return fail(message.format(url=_safe_url(args), error=_first_line(e)), EXIT_NOT_FOUND)
    out = console(sys.stdout)
    try:
        return COMMANDS[args.command](store, args, out)
    except KeyboardInterrupt:
        return fail(_("interrupted"), EXIT_INTERRUPTED)
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
        return _("(unreadable URL)")


def _first_line(e: BaseException) -> str:
    cause = getattr(e, "orig", None) or e
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


# -- read commands --------------------------------------------------------------------------


def cmd_status(store: Store, args: argparse.Namespace, out: Console) -> int:
    views = status(store, args.recent, args.pair)
    if args.pair and not views and not _known_pair(store, args.pair):
        return fail(_("no pair {pair} in this database").format(pair=args.pair), EXIT_NOT_FOUND)
    daemon = daemon_view(store)
    rates = funding_rates(store, pair_symbols(args.pair, views) if args.pair else None)
    groups = _by_pair(views)
    if args.pair:  # the daemon line says why that pair opens no round
        blocked, not_opening = _pair_meta(store, next(iter(groups), args.pair))
        daemon = replace(daemon, blocked=blocked, not_opening=not_opening)
    if args.json:
        pairs = {name: _pair_json(store, name, group) for name, group in groups.items()}
        rows = [v.to_json() for v in views]
        funding = [f.to_json() for f in rates]
        emit_json({"daemon": daemon.to_json(), "funding": funding, "rounds": rows, "pairs": pairs})
        return EXIT_OK
    out.print(daemon_line(daemon))
    out.print(funding_line(rates))
    if not views:
        out.print(_("no rounds yet"))
    elif len(groups) == 1:
        out.print(status_table(views))
    for name, rounds in groups.items() if len(groups) > 1 else ():
        out.print(pair_heading(name, *_pair_meta(store, name)))
        out.print(status_table(rounds))
    return EXIT_OK


def cmd_fleet(store: Store, args: argparse.Namespace, out: Console) -> int:
    view = fleet_view(store)
    if args.json:
        emit_json(view.to_json())
        return EXIT_OK
    if not view.daemons:
        out.print(_("no daemon has checked in"))
    else:
        out.print(fleet_table(view))
    if (free := unheld_line(view)) is not None:
        out.print(free)
    return EXIT_OK


def _names(pair: str) -> tuple[str, ...]:
    """What `--pair` may call a pair shown as `A/B`: A, B or A/B."""
    return (pair, *pair.split("/"))


def _by_pair(views: Sequence[RoundView]) -> dict[str, list[RoundView]]:
    """The rounds grouped by pair (`A/B`), pairs in order of their Aster symbol."""
    groups: dict[str, list[RoundView]] = {}
    for v in sorted(views, key=lambda v: v.pair):
        groups.setdefault(v.pair, []).append(v)
    return groups


def _pair_meta(store: Store, name: str) -> tuple[str | None, str | None]:
    """Why the daemon does not open rounds on the pair: (blocked, not opening)."""
    aster = name.partition("/")[0]
    blocked = store.get_meta(f"blocked:{aster}") or None
    return blocked, store.get_meta(f"not_opening:{aster}") or None


def _pair_json(store: Store, name: str, rounds: Sequence[RoundView]) -> dict[str, Any]:
    blocked, not_opening = _pair_meta(store, name)
    active = sum(v.ended_at is None for v in rounds)
    return {"blocked": blocked, "not_opening": not_opening, "active": active}


def _known_pair(store: Store, pair: str) -> bool:
    """Whether the store knows the pair: a round of it, or a saved price of its symbols."""
    symbols = set(pair.split("/"))
    return bool(store.rounds_of(pair, 1)) or any(s in symbols for _v, s in store.quotes())


def cmd_show(store: Store, args: argparse.Namespace, out: Console) -> int:
    detail = round_detail(store, args.round)
    if detail is None:
        return fail(_("no round {id}").format(id=args.round), EXIT_NOT_FOUND)
    if args.json:
        emit_json(detail.to_json())
    else:
        out.print(render_detail(detail))
    return EXIT_OK


def cmd_history(store: Store, args: argparse.Namespace, out: Console) -> int:
    if args.json and args.csv:
        return fail(_("--json and --csv: choose one"), EXIT_USAGE)
    h = history(store, args.days, args.pair)
    if args.pair and not h.days and not _known_pair(store, args.pair):
        return fail(_("no pair {pair} in this database").format(pair=args.pair), EXIT_NOT_FOUND)
    per_pair = pair_totals(h)
    if args.json:
        data = h.to_json()
        data["pair"] = args.pair
        data["pairs"] = {name: t.to_json() for name, t in per_pair.items()}
        emit_json(data)
    elif args.csv:
        history_csv(h, sys.stdout, args.by_day)
    elif not h.days and args.days:
        out.print(_("no finished rounds in the last {days} days").format(days=args.days))
    elif not h.days:
        out.print(_("no finished rounds yet"))
    else:
        out.print(history_table(h, args.by_day))
        if len(per_pair) > 1:
            out.print(pairs_table(per_pair))
    return EXIT_OK


def cmd_halted(store: Store, args: argparse.Namespace, out: Console) -> int:
    views = [h for h in halted(store) if args.pair in (None, *_names(h.view.pair))]
    if args.json:
        emit_json([v.to_json() for v in views])
    elif not views:
        out.print(_("no halted rounds"))
    else:
        out.print(halted_table(views))
        out.print(
            _(
                "An operator decides: `hedgectl resume ROUND` takes a round back to the state "
                "it halted in, `hedgectl close ROUND` closes its legs at market."
            )
        )
    return EXIT_OK


def cmd_watch(store: Store, args: argparse.Namespace, out: Console) -> int:
    """Redraw until Ctrl-C; a terminal gets one live frame, a pipe gets frame after frame."""
    # Started with SIGINT ignored (nohup, a background job), Ctrl-C would not end the view.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    frames = itertools.count(1)
    try:
        if args.once or not out.is_terminal or args.json:
            while True:
                frame = snapshot(store, args.recent, args.pair)
                if args.json:
                    print(json.dumps(frame.to_json()), flush=True)
                else:
                    out.print(render_frame(next(frames), frame))
                    out.file.flush()
                if args.once:
                    return EXIT_OK
                time.sleep(args.interval)
        first = render_frame(next(frames), snapshot(store, args.recent, args.pair))
        with Live(first, console=out, auto_refresh=False) as live:
            while True:
                time.sleep(args.interval)
                frame = snapshot(store, args.recent, args.pair)
                live.update(render_frame(next(frames), frame), refresh=True)
    except KeyboardInterrupt:  # the way out of a live view: not an error
        return EXIT_OK


# -- steering commands ----------------------------------------------------------------------


def cmd_steer(store: Store, args: argparse.Namespace, out: Console) -> int:
    kind: str = args.command
    target: int | None = getattr(args, "round", None)
    label = kind if target is None else _("{kind} round {id}").format(kind=kind, id=target)
    if target is not None:
        r = store.get_round(target)
        if r is None:
            return fail(_("no round {id}; nothing queued").format(id=target), EXIT_NOT_FOUND)
        if why := refusal(kind, r):
            message = _("{label} refused: {why}; nothing queued")
            return fail(message.format(label=label, why=why), EXIT_REFUSED)
    command, queued_before = queue(store, kind, target)
    assert command.id is not None
    if not args.json:
        if queued_before:
            queued = _("{label}: was already queued as command #{id}")
        else:
            queued = _("{label}: queued as command #{id}")
        out.print(queued.format(label=label, id=command.id))
    waited = _("within {seconds}s").format(seconds=f"{args.timeout:g}")
    try:
        row = wait_for(store, command.id, args.timeout)
    except KeyboardInterrupt:  # Ctrl-C stops the waiting, not the command
        row, waited = store.get_command(command.id) or command, _("(waiting interrupted)")
    if args.json:
        emit_json(command_json(row))
    if row.status == "DONE":
        if not args.json:
            out.print(_("{label}: done: {result}").format(label=label, result=row.result))
        return EXIT_OK
    if row.status == "FAILED":
        message = _("the daemon refused {label}: {result}")
        return fail(message.format(label=label, result=row.result), EXIT_REFUSED)
    message = _(
        "{label} (command #{id}) not acknowledged {waited}; {hint}. "
        "The command stays queued and will be applied when the daemon next runs."
    )
    hint = daemon_hint(daemon_view(store), row.created_at)
    return fail(message.format(label=label, id=row.id, waited=waited, hint=hint), EXIT_NO_ACK)


def refusal(kind: str, r: RoundRow) -> str | None:
    """Why the daemon would refuse `kind` on this round now, if it would (checked locally
    so that nothing doomed gets queued)."""
    if kind == "close" and not RoundMachine(r.state, r.halted_from).allows(Trigger.OPERATOR_CLOSE):
        if r.state == "DONE":
            return _("round {id} is already DONE").format(id=r.id)
        return _("round {id} is {state}: it is already being closed").format(id=r.id, state=r.state)
    if kind == "resume" and r.state != "HALTED":
        return _(
            "round {id} is {state}, not HALTED: only a halted round can be resumed "
            "(`hedgectl resume` without a round reopens rounds)"
        ).format(id=r.id, state=r.state)
    if kind == "resume" and r.halted_from not in RESUMABLE:
        return _("round {id} does not record where it halted from: close it instead").format(
            id=r.id
        )
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
    "fleet": cmd_fleet,
}


if __name__ == "__main__":
    sys.exit(main())
