"""Scenario 8: `hedgectl history` over N finished rounds.

A SQLite store holding N DONE rounds, each as a stopped-out round leaves it (two entries, a
stop and a take-profit, each filled once, with its decision price), is read as `hedgectl`
reads it: the figures alone (`hedged.report.history`: every round's volume, fees, slippage,
funding and cost per 10,000 USDT, per day), and the whole command as a process with its CSV
and its table.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from hedged.legs import ASTER, BACKPACK
from hedged.report import history
from hedged.store import FillRow, OrderRow, RoundRow, Store, utcnow

LEGS = (  # (venue, purpose, side, maker) of each order of a seeded round
    (ASTER, "ENTRY", "SELL", False),
    (BACKPACK, "ENTRY", "BUY", False),
    (ASTER, "STOP", "BUY", False),
    (BACKPACK, "TAKE_PROFIT", "SELL", True),
)
DAYS = 30  # the rounds ended over this many UTC days


def seed(url: str, rounds: int) -> None:
    store = Store(url)
    now = utcnow()
    orders, fills = [], []
    for i in range(1, rounds + 1):
        for j, (venue, purpose, side, maker) in enumerate(LEGS):
            oid = (i - 1) * len(LEGS) + j + 1
            orders.append(
                {
                    "id": oid,
                    "round_id": i,
                    "venue": venue,
                    "symbol": "SOLUSDT" if venue == ASTER else "SOL_USDC_PERP",
                    "purpose": purpose,
                    "side": side,
                    "type": "LIMIT" if maker else "MARKET",
                    "qty": "0.25",
                    "reduce_only": purpose != "ENTRY",
                    "post_only": False,
                    "decision_price": "100.00",
                    "client_id": f"bench-{oid}",
                    "status": "FILLED",
                    "filled_qty": "0.25",
                    "avg_price": "100.01",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            fills.append(
                {
                    "order_id": oid,
                    "round_id": i,
                    "venue": venue,
                    "trade_id": f"bench-{oid}",
                    "side": side,
                    "qty": "0.25",
                    "price": "100.01",
                    "fee": "0.00500050" if maker else "0.00875088",
                    "maker": maker,
                    "at": now,
                }
            )
    ended = [now - timedelta(days=DAYS * i / rounds) for i in range(rounds)]
    with store.engine.begin() as c:
        c.execute(
            insert(RoundRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": i + 1,
                    "state": "DONE",
                    "aster_symbol": "SOLUSDT",
                    "backpack_symbol": "SOL_USDC_PERP",
                    "qty": "0.25",
                    "reason": "take-profit on backpack",
                    "created_at": ended[i],
                    "opened_at": ended[i],
                    "ended_at": ended[i],
                    "realized_pnl": "-0.02750276",
                    "fees": "0.03125314",
                    "volume": "100.01",
                }
                for i in range(rounds)
            ],
        )
        c.execute(insert(OrderRow.__table__), orders)  # type: ignore[attr-defined]
        c.execute(insert(FillRow.__table__), fills)  # type: ignore[attr-defined]
    store.close()


def hedgectl(url: str, *args: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "hedged.ctl", "history", *args, "--db", url],
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )
    return time.monotonic() - started


async def run(out: Path, *, rounds: int) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{out / 'history.db'}"
    seed(url, rounds)
    reader = Store(url, readonly=True)
    try:
        started = time.monotonic()
        h = history(reader)
        figures_s = time.monotonic() - started
    finally:
        reader.close()
    assert h.total.rounds == rounds
    return {
        "rounds": rounds,
        "days": len(h.days),
        "history_figures_s": figures_s,
        "hedgectl_history_csv_s": hedgectl(url, "--csv"),
        "hedgectl_history_table_s": hedgectl(url),
        "hedgectl_history_by_day_s": hedgectl(url, "--by-day"),
    }
