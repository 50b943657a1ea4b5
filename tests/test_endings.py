"""How a round ended (`hedged.endings`, what `bench/exits.py` counts), classified from a tiny
stored example of each ending: rounds, orders and fills written to the store and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from hedged.endings import Ending, ending_of
from hedged.store import FillRow, OrderRow, RoundRow, Store

T0 = datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(seconds=15)
QTY = D("0.25")
ENTRY = {"aster": ("SELL", D("99.99")), "backpack": ("BUY", D("100.01"))}
EXIT_SIDE = {"aster": "BUY", "backpack": "SELL"}

# (venue, purpose, seconds after opening, price, post_only, filled, maker): the exit orders
Exit = tuple[str, str, int, str, bool, bool, bool]


def store_round(store: Store, exits: list[Exit]) -> int:
    """A round opened at T0 with both entries filled, then `exits`; its id."""
    with store.session() as s:
        r = RoundRow(
            state="DONE",
            aster_symbol="SOLUSDT",
            backpack_symbol="SOL_USDC_PERP",
            qty=QTY,
            opened_at=T0,
            deadline_at=DEADLINE,
            ended_at=T0 + timedelta(seconds=16),
        )
        s.add(r)
        s.flush()
        assert r.id is not None
        rows: list[tuple[OrderRow, bool, bool]] = []
        for venue, (side, entry) in ENTRY.items():
            rows.append((order(r.id, venue, "ENTRY", side, 0, entry, False, True), True, False))
        for venue, purpose, after, limit, post_only, filled, maker in exits:
            row = order(r.id, venue, purpose, EXIT_SIDE[venue], after, D(limit), post_only, filled)
            rows.append((row, filled, maker))
        for row, _, _ in rows:
            s.add(row)
        s.flush()
        for row, filled, maker in rows:
            if filled:
                assert row.id is not None and row.avg_price is not None
                s.add(
                    FillRow(
                        order_id=row.id,
                        round_id=r.id,
                        venue=row.venue,
                        trade_id=f"t{row.id}",
                        side=row.side,
                        qty=QTY,
                        price=row.avg_price,
                        fee=D("0.01"),
                        maker=maker,
                    )
                )
        s.commit()
        return r.id


def order(
    round_id: int,
    venue: str,
    purpose: str,
    side: str,
    after: int,
    price: D,
    post_only: bool,
    filled: bool,
) -> OrderRow:
    at = T0 + timedelta(seconds=after)
    limit = purpose == "TAKE_PROFIT"
    return OrderRow(
        round_id=round_id,
        venue=venue,
        symbol="SOLUSDT" if venue == "aster" else "SOL_USDC_PERP",
        purpose=purpose,
        side=side,
        type="LIMIT" if limit else "MARKET",
        qty=QTY,
        price=price if limit else None,
        reduce_only=purpose != "ENTRY",
        post_only=post_only,
        client_id=f"{venue}-{purpose}-{after}-{price}",
        status="FILLED" if filled else "CANCELED",
        filled_qty=QTY if filled else D(0),
        avg_price=price if filled else None,
        created_at=at,
        updated_at=at,
    )


STOPPED = ("aster", "STOP", 5, "100.80", False, True, False)  # the short stopped out first

CASES: list[tuple[str, list[Exit], Ending, bool]] = [
    (
        "the resting take-profit filled",
        [STOPPED, ("backpack", "TAKE_PROFIT", 5, "101.22", False, True, True)],
        Ending.TAKE_PROFIT_MAKER,
        True,
    ),
    (
        "re-priced below the touch, the take-profit took",
        [
            STOPPED,
            ("backpack", "TAKE_PROFIT", 5, "101.22", False, False, False),
            ("backpack", "TAKE_PROFIT", 7, "101.16", False, True, False),
        ],
        Ending.TAKE_PROFIT_TAKER,
        False,
    ),
    (
        "the post-only exit at the touch filled",
        [
            STOPPED,
            ("backpack", "TAKE_PROFIT", 5, "101.22", False, False, False),
            ("backpack", "TAKE_PROFIT", 11, "100.95", True, True, True),
        ],
        Ending.MAKER_AT_TOUCH,
        True,
    ),
    (
        "the survivor's second stop closed it at market before the time limit",
        [
            STOPPED,
            ("backpack", "TAKE_PROFIT", 5, "101.22", False, False, False),
            ("backpack", "CLOSE", 9, "99.20", False, True, False),
        ],
        Ending.STOP_LOSS,
        False,
    ),
    (
        "the survivor's backstop fired",
        [STOPPED, ("backpack", "BACKSTOP", 0, "98.01", False, True, False)],
        Ending.STOP_LOSS,
        False,
    ),
    (
        "the time limit closed the survivor at market",
        [
            STOPPED,
            ("backpack", "TAKE_PROFIT", 11, "100.95", True, False, False),
            ("backpack", "CLOSE", 15, "100.90", False, True, False),
        ],
        Ending.TIME_LIMIT,
        False,
    ),
    (
        "no leg stopped: the time limit closed both at market",
        [
            ("aster", "CLOSE", 15, "100.10", False, True, False),
            ("backpack", "CLOSE", 15, "100.08", False, True, False),
        ],
        Ending.TIME_LIMIT_BOTH,
        False,
    ),
    (
        "no leg stopped: closed before the time limit (an operator's close)",
        [
            ("aster", "CLOSE", 3, "100.10", False, True, False),
            ("backpack", "CLOSE", 3, "100.08", False, True, False),
        ],
        Ending.OTHER_CLOSE,
        False,
    ),
    ("nothing closed yet", [], Ending.OPEN, False),
]


@pytest.mark.parametrize(
    ("exits", "expected", "maker"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_how_a_stored_round_ended(
    store: Store, exits: list[Exit], expected: Ending, maker: bool
) -> None:
    round_id = store_round(store, exits)
    r = store.get_round(round_id)
    assert r is not None
    end = ending_of(r, store.orders_of(round_id), store.fills_of(round_id))
    assert (end.ending, end.maker) == (expected, maker)
    exit_fills = [e for e in exits if e[5]]
    assert end.exit_volume == sum((QTY * D(e[3]) for e in exit_fills), D(0))
    assert end.maker_exit_volume == sum((QTY * D(e[3]) for e in exit_fills if e[6]), D(0))
