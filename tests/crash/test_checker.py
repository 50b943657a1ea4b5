"""The invariant checker catches what it is there to catch (a checker that never
fails proves nothing): one finished round in a store, the venues' records made to agree with
it, then spoiled one way at a time."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from harness import ACCOUNT, ASTER, BACKPACK, SYMBOLS
from invariants import VenueRecords, check_between_passes, check_invariants

from hedged.legs import realized
from hedged.model import Fill, OrderState, OrderStatus, OrderType, Side
from hedged.store import OrderRow, Store

TRADES = [  # venue, purpose, side, price, fee
    (ASTER, "ENTRY", "SELL", "150.10", "0.0052535"),
    (BACKPACK, "ENTRY", "BUY", "150.15", "0.00750750"),
    (ASTER, "CLOSE", "BUY", "149.00", "0.005215"),
    (BACKPACK, "CLOSE", "SELL", "149.05", "0.00745250"),
]
QTY = D("0.1")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'hedged.db'}")
    yield s
    s.close()


def finished_round(store: Store) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """A DONE round in the store; the venues' saved state and submissions that match it."""
    r = store.create_round(SYMBOLS[ASTER], SYMBOLS[BACKPACK])
    assert r.id is not None
    rows = store.add_intents(
        [
            OrderRow(
                round_id=r.id,
                venue=v,
                symbol=SYMBOLS[v],
                purpose=purpose,
                side=side,
                type="MARKET",
                qty=QTY,
            )
            for v, purpose, side, _, _ in TRADES
        ],
        {ASTER: lambda ns, seq: f"hd-{seq}", BACKPACK: lambda ns, seq: str(seq)},
    )
    saved: dict[str, Any] = {v: {"orders": [], "fills": [], "positions": []} for v in SYMBOLS}
    for i, (row, (v, _, side, price, fee)) in enumerate(zip(rows, TRADES, strict=True)):
        assert row.id is not None and row.client_id is not None
        state = OrderState(
            row.client_id, str(i), SYMBOLS[v], Side(side), OrderType.MARKET,
            OrderStatus.FILLED, QTY, QTY, D(price),
        )  # fmt: skip
        store.record_state(row.id, state)
        fill = Fill(v, SYMBOLS[v], row.client_id, str(i), Side(side), QTY, D(price), D(fee))
        store.add_fills(store.get_order(row.id), [fill])
        saved[v]["orders"].append(
            {"account": ACCOUNT, "client_id": row.client_id, "status": "FILLED"}
            | {"filled_qty": str(QTY)}
        )
        saved[v]["fills"].append(
            {"account": ACCOUNT, "client_id": row.client_id, "symbol": SYMBOLS[v], "side": side}
            | {"qty": str(QTY), "price": price, "fee": fee}
        )
    for v in SYMBOLS:
        saved[v]["positions"].append({"account": ACCOUNT, "symbol": SYMBOLS[v], "qty": "0"})
    result = realized(store.fills_of(r.id))
    store.transition(
        r.id, "OPENING", "DONE", "flat",
        realized_pnl=result.pnl, fees=result.fees, volume=result.volume,
    )  # fmt: skip
    submissions = {v: {o["client_id"]: 1 for o in saved[v]["orders"]} for v in SYMBOLS}
    return saved, submissions


def records(saved: Any, submissions: Any) -> VenueRecords:
    return VenueRecords(ACCOUNT, SYMBOLS, saved, submissions)


def test_a_clean_round_passes(store: Store) -> None:
    saved, submissions = finished_round(store)
    verdict = check_invariants(store, records(saved, submissions))
    assert verdict.violations == []
    assert verdict.rounds["DONE"] == 1 and verdict.pnl_checked == verdict.traded == 1


def test_each_spoiled_record_is_caught(store: Store) -> None:
    saved, submissions = finished_round(store)

    def violations(saved: Any = saved, submissions: Any = submissions) -> list[str]:
        return check_invariants(store, records(saved, submissions)).violations

    twice = copy.deepcopy(submissions)
    twice[ASTER]["hd-1"] = 2
    assert [v[:3] for v in violations(submissions=twice)] == ["(1)"]

    exposed = copy.deepcopy(saved)
    exposed[BACKPACK]["positions"][0]["qty"] = "0.1"
    assert [v[:3] for v in violations(exposed)] == ["(2)"]

    still_open = copy.deepcopy(saved)
    still_open[ASTER]["orders"][0]["status"] = "NEW"
    assert [v[:3] for v in violations(still_open)] == ["(3)"]

    orphan = copy.deepcopy(saved)
    orphan[ASTER]["orders"].append(
        {"account": ACCOUNT, "client_id": "hd-99", "status": "NEW", "filled_qty": "0"}
    )
    assert [v[:3] for v in violations(orphan)] == ["(3)"]

    other_price = copy.deepcopy(saved)
    other_price[BACKPACK]["fills"][1]["price"] = "149.06"
    assert [v[:3] for v in violations(other_price)] == ["(5)"]

    store.transition(1, "DONE", "HALTED", "halt")
    assert [v[:3] for v in violations()] == ["(4)"]
    verdict = check_invariants(store, records(saved, submissions), halted_ok=True)
    assert verdict.violations == [
        "(4) round 1 HALTED: None"  # halted, but without a reason
    ]


def test_between_passes_checks_done_rounds_and_flatness_when_nothing_is_live(
    store: Store,
) -> None:
    saved, submissions = finished_round(store)

    def violations(saved: Any = saved, submissions: Any = submissions) -> list[str]:
        return check_between_passes(store, records(saved, submissions)).violations

    assert violations() == []
    twice = copy.deepcopy(submissions)
    twice[BACKPACK]["2"] = 3
    assert [v[:3] for v in violations(submissions=twice)] == ["(1)"]
    other_fee = copy.deepcopy(saved)
    other_fee[ASTER]["fills"][0]["fee"] = "0.0052536"
    assert [v[:3] for v in violations(other_fee)] == ["(5)"]

    exposed = copy.deepcopy(saved)
    exposed[ASTER]["positions"][0]["qty"] = "-0.1"
    resting = copy.deepcopy(saved)
    resting[BACKPACK]["orders"].append(
        {"account": ACCOUNT, "client_id": "5", "status": "NEW", "filled_qty": "0"}
    )
    assert violations(exposed) == ["(2) aster position -0.1 with no round live"]
    store.create_round(SYMBOLS[ASTER], SYMBOLS[BACKPACK])  # round 2, OPENING
    assert violations(exposed) == []  # a live round may hold a position
    store.transition(2, "OPENING", "HALTED", "a venue shows what no round explains")
    assert violations(exposed) == ["(2) aster position -0.1 with no round live"]
    store.add_intents(
        [
            OrderRow(
                round_id=2,
                venue=BACKPACK,
                symbol=SYMBOLS[BACKPACK],
                purpose="ENTRY",
                side="BUY",
                type="LIMIT",
                qty=QTY,
                price=D(150),
            )
        ],
        {ASTER: lambda ns, seq: f"hd-{seq}", BACKPACK: lambda ns, seq: str(seq)},
    )
    assert violations(resting) == ["(3) backpack order 5 (NEW) open with no round live"]
