"""`hedged`: the daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

from rich.console import Console
from sqlalchemy.exc import DatabaseError, OperationalError

from hedged import config as config_mod
from hedged.adapters.base import VenueError
from hedged.config import EX_CONFIG, Config, ConfigError, LogFormat
from hedged.i18n import _, add_lang_option, choose
from hedged.journald import JournalHandler, record_fields, socket_path, under_journald
from hedged.monitor import ConsoleHandler, Monitor, wanted
from hedged.monitor import console as monitor_console
from hedged.secrets import load_credentials
from hedged.states.opening import NoFreshPrice, SizingRefused
from hedged.store import SchemaTooNew, Store

log = logging.getLogger("hedged")


class TextFormatter(logging.Formatter):
    """One line per record; its structured fields appended: ` [round_id=3 venue=aster]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # before any traceback
        line = super().formatMessage(record)
        fields = record_fields(record)
        if not fields:
            return line
        return line + " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_format(fmt: str, environ: Mapping[str, str] = os.environ, stderr_fd: int = 2) -> str:
    """fmt: "text", "json", "journal", or "auto": journal when stderr is journald's, else text."""
    if fmt == "auto":
        return "journal" if under_journald(environ, stderr_fd) else "text"
    return fmt


def setup_logging(
    level: str,
    fmt: str,
    environ: Mapping[str, str] = os.environ,
    stderr_fd: int = 2,
    console: Console | None = None,
) -> None:
    """console: the terminal monitor's, which prints each (text) line above its block."""
    fmt = log_format(fmt, environ, stderr_fd)
    handler: logging.Handler
    if fmt == "journal":
        handler = JournalHandler(socket_path(environ))
    elif console is not None:
        handler = ConsoleHandler(console)
        handler.setFormatter(TextFormatter())
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedged", description=_("hedged: the daemon's command line."))
    add_lang_option(p)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help=_("run the daemon"))
    run.add_argument(
        "--config", type=Path, help=_("TOML configuration (default: embedded defaults)")
    )
    run.add_argument("--db", help=_("SQLAlchemy database URL (overrides store.url)"))
    run.add_argument(
        "--paper",
        action="store_true",
        help=_("trade against the built-in venue simulator; no keys needed"),
    )
    run.add_argument("--mode", choices=["continuous", "single"], help=_("overrides strategy.mode"))
    run.add_argument(
        "--log-format",
        choices=get_args(LogFormat),
        help=_("overrides daemon.log_format (auto: journal under systemd, else text)"),
    )
    run.add_argument(
        "--monitor",
        action=argparse.BooleanOptionalAction,
        help=_(
            "show the live monitoring block below the log (default: when stderr is a "
            "terminal; never under systemd or with a json or journal log)"
        ),
    )
    add_lang_option(run)

    sim = sub.add_parser(
        "sim",
        help=_("serve the wire-compatible Aster and Backpack simulators on 127.0.0.1"),
        description=_(
            "Serve Aster (Binance-USD-M-style REST + WebSocket, V1 HMAC and V3 EIP-712) "
            "and Backpack (REST + WebSocket, ED25519) until stopped, every pair of symbols "
            "on its own simulated price path. Admin endpoints per venue: "
            "POST/DELETE /_admin/faults, POST /_admin/ws/disconnect, POST /_admin/price, "
            "GET /_admin/submissions."
        ),
    )
    sim.add_argument(
        "--accounts",
        type=Path,
        required=True,
        help=_("TOML accounts file: keys and starting balances (see README)"),
    )
    sim.add_argument("--aster-port", type=int, default=0, help=_("Aster port (0: any free port)"))
    sim.add_argument(
        "--backpack-port", type=int, default=0, help=_("Backpack port (0: any free port)")
    )
    sim.add_argument("--aster-symbol", help=_("Aster symbol of the one pair (SOLUSDT)"))
    sim.add_argument("--backpack-symbol", help=_("Backpack symbol of the one pair (SOL_USDC_PERP)"))
    sim.add_argument(
        "--pair",
        dest="pairs",
        action="append",
        type=symbol_pair,
        metavar="ASTER_SYMBOL:BACKPACK_SYMBOL",
        help=_(
            "quote this pair of symbols; repeat for several pairs, each on its own price "
            "path (instead of --aster-symbol and --backpack-symbol)"
        ),
    )
    sim.add_argument("--seed", type=int, default=7, help=_("price path seed (7)"))
    sim.add_argument(
        "--start-price", type=Decimal, default=Decimal(150), help=_("starting price (150)")
    )
    sim.add_argument(
        "--volatility",
        type=Decimal,
        default=Decimal(12),
        help=_("annualized volatility of the price path (12)"),
    )
    sim.add_argument(
        "--basis-bps",
        type=Decimal,
        default=Decimal(3),
        help=_("Backpack price over Aster's, basis points (3)"),
    )
    sim.add_argument(
        "--spread-bps",
        type=Decimal,
        default=Decimal(2),
        help=_("bid/ask spread on each venue, basis points (2)"),
    )
    sim.add_argument(
        "--tick-seconds",
        type=float,
        default=0.2,
        help=_("how often the price moves (0.2; 0 = only by /_admin/price)"),
    )
    sim.add_argument(
        "--price-csv",
        type=Path,
        help=_("replay timestamp,price rows instead (a third column: the 8 h funding rate)"),
    )
    sim.add_argument(
        "--no-funding", action="store_true", help=_("settle no funding (default: each venue's)")
    )
    sim.add_argument(
        "--funding-hours",
        type=Decimal,
        help=_(
            "settle funding every this many hours on both venues, e.g. 0.01 for tests "
            "(default: Aster 8 h, Backpack 1 h)"
        ),
    )
    sim.add_argument(
        "--state",
        type=Path,
        help=_("keep exchange state (orders, fills, positions) in this file across restarts"),
    )
    return p


def symbol_pair(text: str) -> tuple[str, str]:
    """`ASTER_SYMBOL:BACKPACK_SYMBOL`, as `hedged sim --pair` takes it."""
    aster, sep, backpack = text.partition(":")
    if not sep or not aster.strip() or not backpack.strip() or ":" in backpack:
        raise argparse.ArgumentTypeError(
            _("expected ASTER_SYMBOL:BACKPACK_SYMBOL, got {text!r}").format(text=text)
        )
    return aster.strip(), backpack.strip()


def sim_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The pairs `hedged sim` quotes: its --pair options, or the one pair of --aster-symbol
    and --backpack-symbol. ValueError (a message for the user) if they clash."""
    if not args.pairs:
        return [(args.aster_symbol or "SOLUSDT", args.backpack_symbol or "SOL_USDC_PERP")]
    if args.aster_symbol or args.backpack_symbol:
        raise ValueError(_("give either --pair or --aster-symbol/--backpack-symbol, not both"))
    pairs: list[tuple[str, str]] = args.pairs
    for venue, symbols in zip(("Aster", "Backpack"), zip(*pairs, strict=True), strict=True):
        if len(set(symbols)) < len(symbols):
            raise ValueError(
                _("--pair: each {venue} symbol may be quoted by one pair only").format(venue=venue)
            )
    return pairs


def load_config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {
        "strategy.mode": args.mode,
        "daemon.log_format": args.log_format,
        "store.url": args.db,
    }
    return config_mod.load(args.config, overrides=overrides)


def check_state_dir(cfg: Config) -> None:
    """The state directory exists (or is made, owner-only) and takes a file."""
    directory = cfg.daemon.state_dir
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(directory / ".hedged-probe", os.O_WRONLY | os.O_CREAT, 0o600))
        os.unlink(directory / ".hedged-probe")
    except OSError as e:
        why = "is not a directory" if isinstance(e, FileExistsError | NotADirectoryError) else ""
        raise ConfigError(
            cfg.source, "daemon.state_dir", f"{directory}: {why or e.strerror or e}"
        ) from None


def _create_private(cfg: Config, database: Path) -> None:
    """Create the SQLite file owner-only before SQLite opens it: SQLite gives its -wal and
    -shm files the database file's mode."""
    try:
        database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as e:
        raise ConfigError(cfg.source, "store.url", f"{database}: {e.strerror or e}") from None


# Answers a restart cannot change: PostgreSQL's no such database, role or password; a SQLite
# file that cannot be opened, is not a database or is read-only (a lock passes: exit 1)
_STORE_REFUSALS = re.compile(
    r'database "[^"]*" does not exist|role "[^"]*" does not exist'
    r'|password authentication failed for user "[^"]*"|no password supplied'
    r"|unable to open database file|file is not a database|readonly database"
)


class StoreUnreachable(Exception):
    """The database did not answer or is busy: a later start may succeed (exit 1)."""


def _connect(cfg: Config) -> Store:
    try:
        return Store(cfg.store.url)
    except DatabaseError as e:
        said = str(e.orig) if e.orig is not None else str(e)
        if refusal := _STORE_REFUSALS.search(said):
            raise ConfigError(cfg.source, "store.url", f"the database says {refusal[0]}") from None
        if not isinstance(e, OperationalError):
            raise
        raise StoreUnreachable(said.splitlines()[0] if said else type(e).__name__) from None


def open_store(cfg: Config, paper: bool) -> Store:
    database = config_mod.sqlite_file(cfg.store.url)
    if database is not None:
        _create_private(cfg, database)
    store = _connect(cfg)
    kind = "paper" if paper else "live"
    seen = store.get_meta("venues")
    if seen is None:
        store.set_meta("venues", kind)
    elif seen != kind:
        store.close()
        raise ConfigError(
            cfg.source,
            "store.url",
            f"this database holds {seen} rounds; refusing to run {kind} on it "
            "(choose another with --db)",
        )
    return store


async def run(cfg: Config, paper: bool, screen: Console | None = None) -> int:
    """screen: the terminal's console, to draw the monitoring block on."""
    from hedged.engine import Engine
    from hedged.notify import systemd_notifier
    from hedged.observe import observed_venues, observing
    from hedged.venues import live_venues, paper_venues

    # Credentials first: a missing or exposed secret is a configuration error (exit 78).
    venues = paper_venues(cfg) if paper else live_venues(cfg, load_credentials(cfg))
    check_state_dir(cfg)
    store = open_store(cfg, paper)
    notify = systemd_notifier()
    async with venues as by_name, observing(cfg, store) as observer:
        engine = Engine(cfg, store, observed_venues(by_name, observer), notify, observer)

        def on_signal(sig: signal.Signals) -> None:
            log.info(
                "%s: stopping: no new rounds; open rounds stay persisted%s",
                sig.name,
                " and will be flattened" if cfg.strategy.on_shutdown == "flatten" else "",
            )
            notify(STOPPING="1")
            engine.stopping.set()

        loop = asyncio.get_running_loop()
        # SIGHUP (a closed terminal, or a reload request) stops cleanly too: no reload exists
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, on_signal, sig)
        interval = float(cfg.strategy.poll_interval_seconds)
        monitor = None if screen is None else Monitor(engine, screen, interval)
        drawing = None if monitor is None else asyncio.create_task(monitor.run())
        try:
            return await engine.run()
        finally:
            if drawing is not None:
                drawing.cancel()
                await asyncio.gather(drawing, return_exceptions=True)
            store.close()


async def serve_sim(args: argparse.Namespace) -> int:
    from hedged.sim.accounts import AccountsError, load_accounts
    from hedged.sim.server import SimServers, WorldSpec, build_world

    try:
        pairs = sim_pairs(args)
    except ValueError as e:
        log.error("%s", e)
        return EX_CONFIG
    try:
        accounts = load_accounts(args.accounts)
    except AccountsError as e:
        log.error(_("accounts: %s"), e)
        return EX_CONFIG
    if args.funding_hours is not None and not args.funding_hours > 0:
        log.error(_("--funding-hours: %s is not a positive number of hours"), args.funding_hours)
        return EX_CONFIG
    spec = WorldSpec(
        symbols={
            "aster": tuple(aster for aster, _backpack in pairs),
            "backpack": tuple(backpack for _aster, backpack in pairs),
        },
        seed=args.seed,
        start_price=args.start_price,
        volatility=args.volatility,
        basis_bps=args.basis_bps,
        spread_bps=args.spread_bps,
        price_csv=args.price_csv,
        funding=not args.no_funding,
        funding_hours=args.funding_hours,
    )
    world = build_world(spec, accounts, args.state)
    servers = SimServers(
        world,
        accounts,
        aster_port=args.aster_port,
        backpack_port=args.backpack_port,
        tick_seconds=args.tick_seconds,
        state_file=args.state,
    )
    await servers.start()
    print(
        json.dumps({"aster": servers.url("aster"), "backpack": servers.url("backpack")}), flush=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await servers.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    choose(argv)
    args = parser().parse_args(argv)
    if args.command == "sim":
        setup_logging("INFO", "text")
        return asyncio.run(serve_sim(args))
    try:
        cfg = load_config(args)
    except ConfigError as e:
        print("hedged: " + _("configuration error: {error}").format(error=e), file=sys.stderr)
        return EX_CONFIG
    fmt = log_format(cfg.daemon.log_format)
    screen = None
    if wanted(args.monitor, fmt, os.environ, sys.stderr.isatty()):
        screen = monitor_console(forced=bool(args.monitor))
    setup_logging(cfg.daemon.log_level, fmt, console=screen)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    from hedged.crashpoints import arm_from_env

    arm_from_env()
    try:
        return asyncio.run(run(cfg, args.paper, screen))
    except ConfigError as e:
        log.error(_("configuration error: %s"), e)
        return EX_CONFIG
    except NoFreshPrice as e:  # a venue without a price yet: systemd retries later
        log.error(_("cannot start: %s"), e)
        return 1
    except SizingRefused as e:
        key = "strategy.position_size_usdt"
        log.error(_("configuration error: %s"), ConfigError(cfg.source, key, str(e)))
        return EX_CONFIG
    except VenueError as e:
        from hedged.venues import start_refusal

        if refusal := start_refusal(cfg, e):
            log.error(_("configuration error: %s"), refusal)
            return EX_CONFIG
        log.error(_("cannot start: %s"), e)  # unreachable or in trouble: systemd retries later
        return 1
    except StoreUnreachable as e:
        log.error(_("cannot start: the database: %s"), e)
        return 1
    except SchemaTooNew as e:
        log.error("%s", e)
        return EX_CONFIG


if __name__ == "__main__":
    sys.exit(main())
