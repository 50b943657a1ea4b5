"""`hedgectl`: inspect and steer hedged. Reads the store directly, so it works while the
daemon is down.

Exit codes: 0 ok, 1 not found, 2 usage, 78 configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from hedged import config as config_mod
from hedged.config import EX_CONFIG, ConfigError
from hedged.report import RoundView, status
from hedged.store import Store

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="the daemon's TOML configuration")
    common.add_argument("--db", help="SQLAlchemy database URL (default: the config's store.url)")
    p = argparse.ArgumentParser(
        prog="hedgectl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    st = sub.add_parser(
        "status", parents=[common], help="active rounds and the most recent finished ones"
    )
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--recent", type=int, default=10, help="finished rounds to show (10)")
    return p


def _fmt(value: Decimal | None, places: str = "0.0001") -> str:
    return "-" if value is None else str(value.quantize(Decimal(places)))


def render(views: list[RoundView]) -> str:
    if not views:
        return "no rounds yet"
    header = (
        "ID",
        "PAIR",
        "STATE",
        "LEG",
        "QTY",
        "ENTRY",
        "NOW",
        "PNL%",
        "HEDGE PNL",
        "SPREAD bp",
        "AGE",
        "REASON",
    )
    rows: list[tuple[str, ...]] = [header]
    for v in views:
        for i, leg in enumerate(v.legs):
            first = i == 0
            side = "short" if leg.side == "SELL" else "long"
            rows.append(
                (
                    str(v.id) if first else "",
                    v.pair if first else "",
                    v.state if first else "",
                    f"{leg.venue} {side}",
                    str(leg.qty if leg.qty else leg.entered),
                    _fmt(leg.entry),
                    _fmt(leg.price),
                    _fmt(leg.pnl_pct, "0.001"),
                    _fmt(v.hedge_pnl) if first else "",
                    _fmt(v.spread_bps, "0.01") if first else "",
                    f"{v.age_seconds}s" if first else "",
                    (v.reason or "") if first else "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def open_store(args: argparse.Namespace) -> Store:
    cfg = config_mod.load(args.config, overrides={"store.url": args.db})
    url = cfg.store.url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise FileNotFoundError(
            f"no database at {url.removeprefix('sqlite:///')} "
            "(has hedged run yet? --db chooses another)"
        )
    return Store(url)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        store = open_store(args)
    except ConfigError as e:
        print(f"hedgectl: configuration error: {e}", file=sys.stderr)
        return EX_CONFIG
    except FileNotFoundError as e:
        print(f"hedgectl: {e}", file=sys.stderr)
        return EXIT_NOT_FOUND
    try:
        views = status(store, args.recent)
    finally:
        store.close()
    if args.json:
        print(json.dumps([v.to_json() for v in views], indent=2))
    else:
        print(render(views))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
