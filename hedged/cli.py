"""`hedged`: the daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hedged import config as config_mod
from hedged.config import EX_CONFIG, Config, ConfigError
from hedged.states.opening import SizingRefused
from hedged.store import SchemaTooNew, Store

log = logging.getLogger("hedged")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hedged", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", type=Path, help="TOML configuration (default: embedded defaults)")
    run.add_argument("--db", help="SQLAlchemy database URL (overrides store.url)")
    run.add_argument(
        "--paper",
        action="store_true",
        help="trade against the built-in venue simulator; no keys needed",
    )
    run.add_argument("--mode", choices=["continuous", "single"], help="overrides strategy.mode")
    run.add_argument("--log-format", choices=["text", "json"], help="overrides daemon.log_format")
    return p


def load_config(args: argparse.Namespace) -> Config:
    overrides: dict[str, Any] = {
        "strategy.mode": args.mode,
        "daemon.log_format": args.log_format,
        "store.url": args.db,
    }
    return config_mod.load(args.config, overrides=overrides)


def open_store(cfg: Config, paper: bool) -> Store:
    if cfg.store.url.startswith("sqlite:///"):
        Path(cfg.store.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    store = Store(cfg.store.url)
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


async def run(cfg: Config, paper: bool) -> int:
    from hedged.engine import Engine
    from hedged.notify import systemd_notifier
    from hedged.paper import PaperVenues

    store = open_store(cfg, paper)
    venues = PaperVenues(cfg)
    notify = systemd_notifier()
    engine = Engine(cfg, store, venues.by_name, notify)
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        log.info(
            "stopping: no new rounds; open rounds stay persisted%s",
            " and will be flattened" if cfg.strategy.on_shutdown == "flatten" else "",
        )
        notify(STOPPING="1")
        engine.stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    async with venues:
        try:
            return await engine.run()
        finally:
            store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = load_config(args)
    except ConfigError as e:
        print(f"hedged: configuration error: {e}", file=sys.stderr)
        return EX_CONFIG
    if not args.paper:
        print(
            "hedged: live trading needs the Aster and Backpack clients, which this build "
            "does not include yet; run with --paper",
            file=sys.stderr,
        )
        return 2
    setup_logging(cfg.daemon.log_level, cfg.daemon.log_format)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    from hedged.crashpoints import arm_from_env

    arm_from_env()
    try:
        return asyncio.run(run(cfg, args.paper))
    except (ConfigError, SizingRefused) as e:
        log.error("configuration error: %s", e)
        return EX_CONFIG
    except SchemaTooNew as e:
        log.error("%s", e)
        return EX_CONFIG


if __name__ == "__main__":
    sys.exit(main())
