"""hedged.store on SQLite and PostgreSQL: schema, migrations, exact Decimals, durable intents,
the journal, commands, quotes and the round queries."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedged import store as store_module
from hedged.ids import SCHEMES
from hedged.model import (
    Fill,
    FundingInfo,
    FundingPayment,
    FundingShare,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
)
from hedged.store import (
    AMBIGUOUS,
    INTENT,
    SCHEMA_VERSION,
    OrderRow,
    SchemaTooNew,
    Store,
    utc_day_start,
)

D = Decimal
ASTER, BACKPACK = "aster", "backpack"
CLIENT_IDS: dict[str, Callable[[int, int], str]] = {v: s.make for v, s in SCHEMES.items()}
QTY, ZERO = D("1.5"), D(0)
TABLES = {"rounds", "orders", "fills", "events", "commands", "quotes", "meta"}

# Values a float would not survive: many digits, big magnitudes, negative PnL, trailing zeros.
EXACT = [
    D("0.000000012345678901"),
    D("123456789012345678901234.123456789"),
    D("-98765.432109876543210987"),
    D("-0.00000001"),
    D("1.10"),
    D("0E-8"),
    D("-0"),
    D("1E+3"),
]


def same(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal to the digit: value, sign, exponent (so 1.10 is not 1.1)."""
    return a is not None and b is not None and a.as_tuple() == b.as_tuple()


def intent(
    round_id: int | None,
    venue: str = ASTER,
    qty: Decimal = QTY,
    price: Decimal | None = None,
    filled_qty: Decimal = ZERO,
) -> OrderRow:
    assert round_id is not None
    return OrderRow(
        round_id=round_id,
        venue=venue,
        symbol="SOLUSDT" if venue == ASTER else "SOL_USDC_PERP",
        purpose="ENTRY",
        side="SELL" if venue == ASTER else "BUY",
        type="MARKET",
        qty=qty,
        price=price,
        filled_qty=filled_qty,
    )


def fill(order: OrderRow, trade_id: str, qty: str = "0.5", fee: str = "0.01") -> Fill:
    assert order.client_id is not None
    return Fill(
        venue=order.venue,
        symbol=order.symbol,
        client_id=order.client_id,
        trade_id=trade_id,
        side=Side(order.side),
        qty=D(qty),
        price=D("150.25"),
        fee=D(fee),
    )


def kinds(store: Store, round_id: int | None) -> list[str]:
    assert round_id is not None
    return [e.kind for e in store.events_of(round_id)]


@pytest.fixture
def raw(store_url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database that shares nothing with any Store."""
    engine = sa.create_engine(store_url)
    yield engine
    engine.dispose()


# -- schema ----------------------------------------------------------------------------


def test_schema_created_and_version_recorded(store: Store, raw: sa.Engine) -> None:
    assert set(sa.inspect(raw).get_table_names()) >= TABLES
    assert store.schema_version() == SCHEMA_VERSION
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert 0 <= store.namespace < 2**32
    assert store.get_meta("namespace") == str(store.namespace)


def test_reopening_keeps_data_and_namespace(store: Store, open_store: Callable[[], Store]) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    [order] = store.add_intents([intent(r.id)], CLIENT_IDS)
    store.set_meta("paused", "1")
    namespace = store.namespace
    store.close()

    again = open_store()
    assert again.namespace == namespace
    assert again.schema_version() == SCHEMA_VERSION
    assert again.get_meta("paused") == "1"
    assert r.id is not None and order.id is not None
    kept = again.get_round(r.id)
    assert kept is not None and kept.model_dump() == r.model_dump()
    assert again.get_order(order.id).client_id == order.client_id
    assert again.count_rounds() == 1


def test_a_newer_schema_is_refused(
    store: Store, store_url: str, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    store.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    store.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        open_store()
    with raw.connect() as c:  # refused without rewriting the version
        version = c.execute(sa.text("SELECT value FROM meta WHERE key = 'schema_version'"))
        assert version.scalar_one() == str(SCHEMA_VERSION + 1)


def test_migrations_apply_in_order_once_and_keep_data(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.update_round(r.id, qty=D("0.123456789"), realized_pnl=D("-1.50"))
    store.close()

    n = SCHEMA_VERSION
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", n + 2)
    monkeypatch.setattr(
        store_module,
        "MIGRATIONS",
        {  # the second step needs the first: order matters
            n: ["ALTER TABLE rounds ADD COLUMN note VARCHAR(64)"],
            n + 1: ["CREATE INDEX ix_rounds_note ON rounds (note)"],
        },
    )
    migrated = open_store()
    assert migrated.schema_version() == n + 2
    inspector = sa.inspect(raw)
    assert "note" in {c["name"] for c in inspector.get_columns("rounds")}
    assert "ix_rounds_note" in {i["name"] for i in inspector.get_indexes("rounds")}
    kept = migrated.get_round(r.id)
    assert kept is not None
    assert same(kept.qty, D("0.123456789")) and same(kept.realized_pnl, D("-1.50"))
    with raw.begin() as c:
        c.execute(sa.text("UPDATE rounds SET note = 'migrated' WHERE id = :id"), {"id": r.id})
    migrated.close()

    # Already at n + 2: reopening must not run the steps again (ADD COLUMN would fail).
    again = open_store()
    assert again.schema_version() == n + 2
    with raw.connect() as c:
        note = c.execute(sa.text("SELECT note FROM rounds WHERE id = :id"), {"id": r.id})
        assert note.scalar_one() == "migrated"


def test_a_version_2_database_gains_stop_post_only_and_decision_prices(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    """Version 3 adds the columns of stop orders (`trigger_price`, a `type` long enough for
    STOP_MARKET), `post_only` and each order's `decision_price`; a version-2 database is
    migrated."""
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.close()
    with raw.begin() as c:  # back to version 2
        c.execute(sa.text("ALTER TABLE orders DROP COLUMN trigger_price"))
        c.execute(sa.text("ALTER TABLE orders DROP COLUMN decision_price"))
        c.execute(sa.text("ALTER TABLE orders DROP COLUMN post_only"))
        c.execute(sa.text("ALTER TABLE rounds DROP COLUMN short_venue"))
        if raw.dialect.name == "postgresql":
            c.execute(sa.text("ALTER TABLE orders ALTER COLUMN type TYPE VARCHAR(8)"))
        c.execute(sa.text("DROP TABLE order_intents"))
        c.execute(sa.text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
    migrated = open_store()
    assert migrated.schema_version() == SCHEMA_VERSION
    stop = intent(r.id)
    stop.type, stop.trigger_price, stop.decision_price = "STOP_MARKET", D("98.01"), D("98.01")
    maker = intent(r.id, price=D("101.5"))
    maker.type, maker.post_only = "LIMIT", True
    [stop, maker] = migrated.add_intents([stop, maker], CLIENT_IDS)
    assert maker.id is not None and migrated.get_order(maker.id).post_only
    assert stop.id is not None
    again = migrated.get_order(stop.id)
    assert (again.type, again.trigger_price, again.decision_price) == (
        "STOP_MARKET",
        D("98.01"),
        D("98.01"),
    )
    migrated.close()


def test_a_version_3_database_gains_the_funding_tables(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    """Version 4 adds the tables `funding` and `funding_rates`; a version-3 database, its
    rounds kept, is migrated and takes funding at once."""
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.close()
    with raw.begin() as c:  # back to version 3
        c.execute(sa.text("DROP TABLE funding"))
        c.execute(sa.text("DROP TABLE funding_rates"))
        c.execute(sa.text("ALTER TABLE rounds DROP COLUMN short_venue"))
        c.execute(sa.text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
    migrated = open_store()
    assert migrated.schema_version() == SCHEMA_VERSION
    assert {"funding", "funding_rates"} <= set(sa.inspect(raw).get_table_names())
    unique = sa.inspect(raw).get_unique_constraints("funding")
    assert [sorted(u["column_names"]) for u in unique] == [["payment_id", "round_id", "venue"]]
    assert migrated.add_funding(r.id, [share(payment("7", "-0.0123"), "-0.0123", "1.5")]) == 1
    assert migrated.funding_by_round([r.id]) == {r.id: D("-0.0123")}
    migrated.close()


def test_a_version_4_database_gains_each_rounds_short_venue(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    """Version 5 stores which venue holds each round's short; the rounds of an older
    database all had it on Aster."""
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.close()
    with raw.begin() as c:  # back to version 4
        c.execute(sa.text("ALTER TABLE rounds DROP COLUMN short_venue"))
        c.execute(sa.text("UPDATE meta SET value = '4' WHERE key = 'schema_version'"))
    migrated = open_store()
    assert migrated.schema_version() == SCHEMA_VERSION
    old = migrated.get_round(r.id)
    assert old is not None and old.short_venue == "aster"
    new = migrated.create_round("SOLUSDT", "SOL_USDC_PERP", "backpack", {"carry_per_hour": "1"})
    assert new.id is not None
    again = open_store().get_round(new.id)
    assert again is not None and again.short_venue == "backpack"
    kinds = [(e.kind, json.loads(e.detail)) for e in migrated.events_of(new.id)]
    assert kinds == [
        ("round_created", {"state": "OPENING", "short": "backpack"}),
        ("direction", {"short": "backpack", "carry_per_hour": "1"}),
    ]
    migrated.close()


# -- exact Decimals --------------------------------------------------------------------


@pytest.mark.parametrize("value", EXACT, ids=str)
def test_decimals_round_trip_exactly(
    value: Decimal, store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.update_round(r.id, qty=value, realized_pnl=value, fees=value, volume=value)
    [order] = store.add_intents(
        [intent(r.id, qty=value, price=value, filled_qty=value)], CLIENT_IDS
    )
    assert order.id is not None
    store.record_order(order.id, "order_state", avg_price=value)
    store.add_fills(order, [fill(order, "t1", qty=str(value), fee=str(value))])

    other = open_store()  # read back from the database, not from a session's identity map
    got = other.get_round(r.id)
    assert got is not None
    for v in (got.qty, got.realized_pnl, got.fees, got.volume):
        assert same(v, value), v
    o = other.get_order(order.id)
    for v in (o.qty, o.price, o.filled_qty, o.avg_price):
        assert same(v, value), v
    [f] = other.fills_of(r.id)
    assert same(f.qty, value) and same(f.fee, value) and same(f.price, D("150.25"))
    with raw.connect() as c:  # stored as the exact text, never as a float
        stored = c.execute(sa.text("SELECT realized_pnl FROM rounds WHERE id = :id"), {"id": r.id})
        assert stored.scalar_one() == str(value)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('decimals') / 'hedged.db'}")
    yield store
    store.close()


_trade_ids = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.decimals(allow_nan=False, allow_infinity=False)
    | st.decimals(min_value=-(10**20), max_value=10**20, places=18)
)
def test_decimals_round_trip_exactly_any_value_on_sqlite(
    sqlite_store: Store, value: Decimal
) -> None:
    store = sqlite_store
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.update_round(r.id, realized_pnl=value, fees=value, volume=value)
    [order] = store.add_intents(
        [intent(r.id, qty=value, price=value, filled_qty=value)], CLIENT_IDS
    )
    assert order.id is not None
    store.record_order(order.id, "order_state", avg_price=value)
    trade = f"t{next(_trade_ids)}"
    store.add_fills(order, [fill(order, trade, qty=str(value), fee=str(value))])

    got = store.get_round(r.id)
    assert got is not None
    assert same(got.realized_pnl, value) and same(got.fees, value) and same(got.volume, value)
    o = store.get_order(order.id)
    for v in (o.qty, o.price, o.filled_qty, o.avg_price):
        assert same(v, value), v
    [f] = store.fills_of(r.id)
    assert same(f.qty, value) and same(f.fee, value)


# -- order intents ---------------------------------------------------------------------


def test_add_intents_derives_unique_client_ids_from_namespace_and_row(store: Store) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    first = store.add_intents([intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS)
    second = store.add_intents([intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS)
    rows = first + second
    for row in rows:
        assert row.id is not None
        assert row.status == INTENT and row.unresolved
        assert row.client_id == CLIENT_IDS[row.venue](store.namespace, row.id)
        assert SCHEMES[row.venue].owns(store.namespace, row.client_id)
    assert len({(row.venue, row.client_id) for row in rows}) == len(rows)
    assert len({row.id for row in rows}) == len(rows)

    stored = store.orders_of(r.id or 0)
    assert [(o.id, o.client_id) for o in stored] == [(o.id, o.client_id) for o in rows]
    for o in rows:
        assert o.id is not None
        store.record_order(o.id, "order_state", status="NEW")
    intents = [e for e in store.events_of(r.id or 0) if e.kind == "intent"]
    assert [json.loads(e.detail)["client_id"] for e in intents] == [o.client_id for o in rows]


def test_an_intents_first_answer_moves_it_into_orders_with_its_journal_entry(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    """The commit before a send writes one narrow row (and the round's fields); the order's
    row and its `intent` event are written with its first answer, in that answer's
    transaction. Until then every reader sees the order as an INTENT."""
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    store.cache_live_rounds()
    [order] = store.add_intents([intent(r.id)], CLIENT_IDS, {"reason": "stop-loss on aster"})
    assert order.id is not None

    def tables() -> tuple[list[int], list[int]]:
        with raw.connect() as c:
            orders = c.execute(sa.text("SELECT id FROM orders")).scalars().all()
            intents = c.execute(sa.text("SELECT id FROM order_intents")).scalars().all()
        return list(orders), list(intents)

    assert tables() == ([], [order.id])
    reader = open_store()
    assert reader.get_round(r.id).reason == "stop-loss on aster"  # type: ignore[union-attr]
    assert [o.model_dump() for o in reader.orders_of(r.id)] == [order.model_dump()]
    assert reader.live_orders() == reader.orders_of(r.id)
    assert order.client_id is not None
    assert reader.order_by_client_id(ASTER, order.client_id) == reader.get_order(order.id)
    assert kinds(reader, r.id) == ["round_created"]

    store.record_order(order.id, "order_ambiguous", status=AMBIGUOUS, reject_message="timeout")
    assert tables() == ([order.id], [])
    moved = open_store().get_order(order.id)
    assert moved.model_dump() == store.get_order(order.id).model_dump()
    assert (moved.status, moved.created_at) == (AMBIGUOUS, order.created_at)
    assert kinds(reader, r.id) == ["round_created", "intent", "order_ambiguous"]
    store.record_order(order.id, "order_state", status="FILLED", filled_qty=QTY)  # an update
    assert open_store().get_order(order.id).status == "FILLED"


def test_order_ids_are_never_reused_across_intents_and_orders(store: Store) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    [a] = store.add_intents([intent(r.id)], CLIENT_IDS)
    [b] = store.add_intents([intent(r.id)], CLIENT_IDS)  # a still in flight
    assert a.id is not None and b.id is not None and b.id > a.id
    store.record_order(b.id, "order_state", status="NEW")  # b moves into orders, a does not
    [c] = store.add_intents([intent(r.id)], CLIENT_IDS)
    store.record_order(a.id, "order_state", status="NEW")
    [d] = store.add_intents([intent(r.id)], CLIENT_IDS)
    ids = [o.id or 0 for o in (a, b, c, d)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [o.id for o in store.orders_of(r.id or 0)] == ids


def test_add_intents_is_all_or_none(store: Store, open_store: Callable[[], Store]) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")

    def refuse(namespace: int, seq: int) -> str:
        raise ValueError("no id for you")

    with pytest.raises(ValueError, match="no id for you"):
        store.add_intents(
            [intent(r.id, ASTER), intent(r.id, BACKPACK)], {**CLIENT_IDS, BACKPACK: refuse}
        )
    with pytest.raises(KeyError):  # a venue without a client-id scheme
        store.add_intents([intent(r.id, ASTER), intent(r.id, "nowhere")], CLIENT_IDS)

    for s in (store, open_store()):
        assert s.orders_of(r.id or 0) == []
        assert s.live_orders() == []
        assert kinds(s, r.id) == ["round_created"]

    # The store is still usable, and ids are still unique after the rolled-back attempts.
    rows = store.add_intents([intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS)
    assert [o.id for o in store.orders_of(r.id or 0)] == [o.id for o in rows]
    assert len({o.client_id for o in rows}) == 2


def test_an_intent_is_visible_to_other_connections_once_add_intents_returns(
    store: Store, raw: sa.Engine, open_store: Callable[[], Store]
) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    [order] = store.add_intents([intent(r.id)], CLIENT_IDS)
    assert order.id is not None

    seen = open_store().get_order(order.id)  # another Store, engine and connection
    assert (seen.status, seen.client_id) == (INTENT, order.client_id)
    with raw.connect() as c:  # and plain SQL through an engine that shares nothing
        body = c.execute(
            sa.text("SELECT body FROM order_intents WHERE id = :id"), {"id": order.id}
        ).scalar_one()
    assert json.loads(body)["client_id"] == order.client_id


CRASH_AFTER_INTENT = """
import os, signal, sys
from decimal import Decimal
from hedged.ids import SCHEMES
from hedged.store import OrderRow, Store
store = Store(sys.argv[1])
r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
[row] = store.add_intents(
    [OrderRow(round_id=r.id, venue="aster", symbol="SOLUSDT", purpose="ENTRY", side="SELL",
              type="MARKET", qty=Decimal("1.5"))],
    {"aster": SCHEMES["aster"].make},
)
print(row.id, row.client_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no dispose: as if the power went
"""


def test_an_intent_survives_the_process_being_killed_right_after(
    store_url: str, open_store: Callable[[], Store]
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_INTENT, store_url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == -9, done.stderr
    order_id, client_id = done.stdout.split()
    after = open_store()
    order = after.get_order(int(order_id))
    assert (order.status, order.client_id) == (INTENT, client_id)
    assert [o.id for o in after.live_orders()] == [int(order_id)]


def wal_frames(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames already copied to the database file); it copies the rest."""
    with closing(sqlite3.connect(path)) as db:
        _busy, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log, copied


def wal_start(path: Path) -> tuple[int, int]:
    """The WAL's header: how many times it was started over, and the frames its file holds
    (it is written over in place, not shortened, when it starts over)."""
    wal = Path(f"{path}-wal").read_bytes()
    (restarts,) = struct.unpack(">I", wal[12:16])
    (page_size,) = struct.unpack(">I", wal[8:12])
    return restarts, (len(wal) - 32) // (page_size + 24)


def test_with_checkpoints_beside_no_commit_copies_the_wal_and_checkpoint_does(
    tmp_path: Path,
) -> None:
    """The daemon's store: a commit never runs the WAL checkpoint (whose fsyncs would delay
    an order intent); `checkpoint()` does it, from another thread, and starts the WAL over
    itself, so that the next commit (an intent's, say) does not also sync a new header."""
    path = tmp_path / "hedged.db"
    store = Store(f"sqlite:///{path}")
    store.checkpoint_beside()
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    for _ in range(800):  # past SQLite's default mark of 1,000 pages
        store.add_intents([intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS)
    restarts, frames = wal_start(path)
    assert frames > 1000 and restarts == 0, "an automatic checkpoint started the WAL over"
    checkpointer = threading.Thread(target=store.checkpoint)
    checkpointer.start()
    checkpointer.join()
    assert wal_start(path)[0] == 1, "checkpoint() left the WAL for the next commit to restart"
    store.add_intents([intent(r.id, ASTER)], CLIENT_IDS)
    assert wal_start(path)[0] == 1
    log, copied = wal_frames(path)
    assert log == copied and log < 10, "checkpoint() left committed pages in the WAL only"
    assert len(store.orders_of(r.id or 0)) == 1601
    store.close()


def test_a_store_of_its_own_keeps_sqlites_automatic_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "hedged.db"
    store = Store(f"sqlite:///{path}")  # hedgectl, tools: nothing checkpoints beside them
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    for _ in range(800):
        store.add_intents([intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS)
    assert wal_frames(path)[0] < 1000
    store.close()


# -- orders and fills ------------------------------------------------------------------


def test_record_order_journals_only_real_changes(store: Store) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    [order] = store.add_intents([intent(r.id)], CLIENT_IDS)
    assert order.id is not None and order.client_id is not None

    # Nothing new: same status, and a filled_qty equal to the stored 0.
    unchanged = store.record_order(order.id, "order_state", status=INTENT, filled_qty=D("0.0"))
    assert unchanged.updated_at == order.updated_at
    assert kinds(store, r.id) == ["round_created"]  # the intent is journaled with its answer

    state = OrderState(
        client_id=order.client_id,
        venue_order_id="v-1",
        symbol=order.symbol,
        side=Side.SELL,
        type=OrderType.MARKET,
        status=OrderStatus.PARTIALLY_FILLED,
        qty=order.qty,
        filled_qty=D("0.5"),
        avg_price=D("150.25"),
    )
    updated = store.record_state(order.id, state)
    assert kinds(store, r.id) == ["round_created", "intent", "order_state"]
    assert (updated.status, updated.venue_order_id) == ("PARTIALLY_FILLED", "v-1")
    assert same(updated.filled_qty, D("0.5")) and same(updated.avg_price, D("150.25"))
    assert updated.updated_at > order.updated_at
    store.record_state(order.id, state)  # the same answer again: no new event
    store.record_order(order.id, "order_state", venue_order_id="v-1")

    events = [e for e in store.events_of(r.id or 0) if e.kind == "order_state"]
    assert len(events) == 1
    assert json.loads(events[0].detail) == {
        "order": order.id,
        "status": "PARTIALLY_FILLED",
        "venue_order_id": "v-1",
        "filled_qty": "0.5",
        "avg_price": "150.25",
    }

    store.record_order(order.id, "order_state", status="FILLED", filled_qty=D("1.5"))
    changed = [json.loads(e.detail) for e in store.events_of(r.id or 0)][-1]
    assert changed == {"order": order.id, "status": "FILLED", "filled_qty": "1.5"}
    final = store.get_order(order.id)
    assert final.terminal and not final.unresolved
    assert store.live_orders() == []


def test_add_fills_is_idempotent_by_venue_and_trade_id(store: Store) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    a1, a2, b1 = store.add_intents(
        [intent(r.id, ASTER), intent(r.id, ASTER), intent(r.id, BACKPACK)], CLIENT_IDS
    )
    for o in (a1, a2, b1):  # a fill follows its order's answer
        assert o.id is not None
        store.record_order(o.id, "order_state", status="FILLED")
    assert store.add_fills(a1, [fill(a1, "t1"), fill(a1, "t2")]) == 2
    assert store.add_fills(a1, [fill(a1, "t1"), fill(a1, "t2")]) == 0  # replayed
    assert store.add_fills(a1, [fill(a1, "t2"), fill(a1, "t3")]) == 1  # overlapping
    assert store.add_fills(a1, [fill(a1, "t4"), fill(a1, "t4")]) == 1  # twice in one batch
    assert store.add_fills(a2, [fill(a2, "t1")]) == 0  # that venue trade is already known
    assert store.add_fills(b1, [fill(b1, "t1")]) == 1  # another venue's t1 is another trade
    assert store.add_fills(b1, []) == 0

    fills = store.fills_of(r.id or 0)
    assert [(f.venue, f.trade_id, f.order_id) for f in fills] == [
        (ASTER, "t1", a1.id),
        (ASTER, "t2", a1.id),
        (ASTER, "t3", a1.id),
        (ASTER, "t4", a1.id),
        (BACKPACK, "t1", b1.id),
    ]
    assert all(same(f.fee, D("0.01")) and f.side in ("BUY", "SELL") for f in fills)
    assert kinds(store, r.id).count("fill") == 5


# -- funding ---------------------------------------------------------------------------

SETTLED = datetime(2026, 12, 7, 8, tzinfo=UTC)


def payment(
    payment_id: str, amount: str, venue: str = BACKPACK, at: datetime = SETTLED
) -> FundingPayment:
    symbol = "SOLUSDT" if venue == ASTER else "SOL_USDC_PERP"
    return FundingPayment(venue, payment_id, symbol, D(amount), at)


def share(p: FundingPayment, amount: str, qty: str) -> FundingShare:
    return FundingShare(p, D(amount), D(qty))


def test_add_funding_is_idempotent_by_venue_payment_and_round(
    store: Store, open_store: Callable[[], Store]
) -> None:
    a, b = store.create_round("SOLUSDT", "SOL_USDC_PERP"), store.create_round("X", "Y")
    assert a.id is not None and b.id is not None
    hourly = payment("SOL_USDC_PERP@1796630400000", "-0.000000012345678901")
    later = payment("SOL_USDC_PERP@1796634000000", "0.10", at=SETTLED + timedelta(hours=1))
    aster = payment("1000000000003", "0.02500000", venue=ASTER)
    first = [share(hourly, "-0.000000012345678901", "1.5"), share(aster, "0.02500000", "1.5")]
    assert store.add_funding(a.id, first) == 2
    # again, in another order, with the same payment twice in one batch: nothing new
    assert store.add_funding(a.id, [first[1], first[0], first[0]]) == 0
    # one payment split over two rounds: a row per round
    assert store.add_funding(a.id, [share(later, "0.06", "1.5")]) == 1
    assert store.add_funding(b.id, [share(later, "0.04", "1.0")]) == 1
    assert store.add_funding(b.id, []) == 0
    store.close()

    again = open_store()  # a restart collects the same history: still nothing new
    assert again.add_funding(a.id, [*first, share(later, "0.06", "1.5")]) == 0
    rows = again.funding_of(a.id)
    assert [(r.venue, r.payment_id) for r in rows] == [
        (BACKPACK, hourly.payment_id),
        (ASTER, "1000000000003"),
        (BACKPACK, later.payment_id),
    ]
    assert same(rows[0].amount, D("-0.000000012345678901")) and same(rows[0].share_qty, D("1.5"))
    assert same(rows[1].amount, D("0.02500000"))
    assert rows[0].at == SETTLED and rows[2].at == SETTLED + timedelta(hours=1)
    totals = again.funding_by_round([b.id, a.id, 999_999])
    assert totals == {a.id: D("0.084999987654321099"), b.id: D("0.04"), 999_999: ZERO}
    assert again.funding_by_round([]) == {}
    journal = [e for e in again.events_of(a.id) if e.kind == "funding"]
    assert len(journal) == 3
    assert json.loads(journal[0].detail)["payment"] == hourly.payment_id


def test_a_payment_split_between_rounds_is_stored_for_all_or_none(store: Store) -> None:
    a, b = store.create_round("SOLUSDT", "SOL_USDC_PERP"), store.create_round("X", "Y")
    assert a.id is not None and b.id is not None
    paid = payment("SOL_USDC_PERP@1796630400000", "-0.03")
    assert store.known_funding(BACKPACK, [paid.payment_id, "other"]) == set()
    shares = {a.id: [share(paid, "-0.01", "1")], b.id: [share(paid, "-0.02", "2")]}
    with pytest.raises(sa.exc.IntegrityError):  # round 999 does not exist: nothing lands
        store.add_funding_shares({**shares, 999: [share(paid, "0", "0")]})
    assert store.known_funding(BACKPACK, [paid.payment_id]) == set()
    assert store.add_funding_shares(shares) == 2
    assert store.add_funding_shares(shares) == 0
    assert store.known_funding(BACKPACK, [paid.payment_id, "other"]) == {paid.payment_id}
    assert store.known_funding(ASTER, [paid.payment_id]) == set()  # per venue
    assert store.funding_by_round([a.id, b.id]) == {a.id: D("-0.01"), b.id: D("-0.02")}


def test_funding_rates_are_upserted_per_venue_and_symbol(
    store: Store, open_store: Callable[[], Store]
) -> None:
    first = FundingInfo("SOLUSDT", D("0.00010000"), D(8), SETTLED, D("150.12"))
    store.save_funding_info(ASTER, first)
    store.save_funding_info(BACKPACK, FundingInfo("SOL_USDC_PERP", D("-0.0000125"), D(1), SETTLED))
    later = SETTLED + timedelta(hours=8)
    store.save_funding_info(ASTER, FundingInfo("SOLUSDT", D("-0.00002"), D(8), later, None))
    store.close()
    rates = open_store().funding_rates()
    assert set(rates) == {(ASTER, "SOLUSDT"), (BACKPACK, "SOL_USDC_PERP")}
    aster = rates[ASTER, "SOLUSDT"]
    assert (aster.rate, aster.interval_hours, aster.next_at, aster.mark_price) == (
        D("-0.00002"),
        D(8),
        later,
        None,
    )
    assert same(rates[BACKPACK, "SOL_USDC_PERP"].rate, D("-0.0000125"))


# -- rounds and the journal ------------------------------------------------------------


def test_transition_refuses_a_wrong_source_and_journals_the_move(store: Store) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None and r.state == "OPENING"

    with pytest.raises(RuntimeError, match="is OPENING, not MONITORING"):
        store.transition(r.id, "MONITORING", "CLOSING", "deadline", reason="late")
    unchanged = store.get_round(r.id)
    assert unchanged is not None and (unchanged.state, unchanged.reason) == ("OPENING", None)
    assert kinds(store, r.id) == ["round_created"]

    opened = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    moved = store.transition(r.id, "OPENING", "MONITORING", "entered", opened_at=opened)
    assert (moved.state, moved.opened_at) == ("MONITORING", opened)
    got = store.get_round(r.id)
    assert got is not None and (got.state, got.opened_at) == ("MONITORING", opened)
    last = store.events_of(r.id)[-1]
    assert last.kind == "transition"
    assert json.loads(last.detail) == {
        "from": "OPENING",
        "to": "MONITORING",
        "trigger": "entered",
        "opened_at": str(opened),
    }


def test_events_are_append_only_and_ordered(store: Store, raw: sa.Engine) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    other = store.create_round("ETHUSDT", "ETH_USDC_PERP")
    assert r.id is not None
    for i in range(5):
        store.journal(r.id, "note", i=i, amount=D("0.1") * i)
        store.journal(other.id, "elsewhere", i=i)
    store.journal(None, "daemon", what="start")
    before = store.events_of(r.id)

    store.transition(r.id, "OPENING", "CLOSING", "abort")
    after = store.events_of(r.id)

    assert [e.kind for e in after] == ["round_created", *["note"] * 5, "transition"]
    assert [e.model_dump() for e in after[: len(before)]] == [e.model_dump() for e in before]
    ids = [e.id or 0 for e in after]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    times = [e.at for e in after]
    assert times == sorted(times)
    assert [json.loads(e.detail)["i"] for e in after[1:6]] == [0, 1, 2, 3, 4]
    assert json.loads(after[3].detail)["amount"] == "0.2"
    assert all(e.round_id == r.id for e in after)
    with raw.connect() as c:  # the round-less entry is there too, in no round's list
        daemon = c.execute(sa.text("SELECT round_id, detail FROM events WHERE kind = 'daemon'"))
        assert [tuple(row) for row in daemon] == [(None, '{"what": "start"}')]


def test_command_lifecycle(store: Store, open_store: Callable[[], Store]) -> None:
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    pause = store.add_command("pause")
    close = store.add_command("close", r.id)
    assert pause.id is not None and close.id is not None
    assert (pause.status, close.status) == ("PENDING", "PENDING")

    daemon = open_store()  # hedgectl writes, the daemon reads
    assert [(c.id, c.kind, c.round_id) for c in daemon.pending_commands()] == [
        (pause.id, "pause", None),
        (close.id, "close", r.id),
    ]

    daemon.finish_command(pause.id, True, "paused")
    daemon.finish_command(close.id, False, "x" * 600)
    assert store.pending_commands() == []
    done, failed = store.get_command(pause.id), store.get_command(close.id)
    assert done is not None and failed is not None
    assert (done.status, done.result) == ("DONE", "paused")
    assert (failed.status, failed.result) == ("FAILED", "x" * 512)
    assert done.applied_at is not None and done.applied_at >= done.created_at
    assert store.get_command(10**6) is None
    [journaled] = [e for e in store.events_of(r.id or 0) if e.kind == "command"]
    assert json.loads(journaled.detail)["command"] == "close"
    assert json.loads(journaled.detail)["ok"] is False


def test_quotes_are_upserted(store: Store, open_store: Callable[[], Store]) -> None:
    assert store.quotes() == {}
    store.save_quotes(
        [
            (ASTER, "SOLUSDT", D("150.10"), D("150.20")),
            (BACKPACK, "SOL_USDC_PERP", D("150.05"), D("150.15")),
        ]
    )
    store.save_quotes([(ASTER, "SOLUSDT", D("151.000000001"), D("151.10"))])
    quotes = open_store().quotes()
    assert set(quotes) == {(ASTER, "SOLUSDT"), (BACKPACK, "SOL_USDC_PERP")}
    aster = quotes[ASTER, "SOLUSDT"]
    assert same(aster.bid, D("151.000000001")) and same(aster.ask, D("151.10"))
    assert same(quotes[BACKPACK, "SOL_USDC_PERP"].bid, D("150.05"))
    assert aster.at >= quotes[BACKPACK, "SOL_USDC_PERP"].at


def test_round_queries(store: Store) -> None:
    assert store.count_rounds() == 0
    assert store.recent_rounds(5) == []
    assert store.active_rounds() == []
    assert store.last_ended_at() is None
    assert same(store.realized_since(utc_day_start()), D(0))

    today = utc_day_start()
    yesterday_noon = today - timedelta(hours=12)
    ended = [  # (state, ended_at, realized_pnl)
        ("DONE", yesterday_noon, D("5.125")),
        ("DONE", today, D("-3.25")),  # exactly at the bound: counts
        ("DONE", today + timedelta(seconds=1), None),  # no PnL recorded: counts as 0
        ("HALTED", today + timedelta(seconds=2), D("-100")),  # not DONE: never counts
    ]
    ids: list[int] = []
    for state, at, pnl in ended:
        r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
        assert r.id is not None
        store.update_round(r.id, state=state, ended_at=at, realized_pnl=pnl)
        ids.append(r.id)
    for state in ("OPENING", "MONITORING", "LIMIT_SET", "CLOSING", "FAILED"):
        r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
        assert r.id is not None
        store.update_round(r.id, state=state)
        ids.append(r.id)

    assert same(store.realized_since(today), D("-3.25"))
    assert store.realized_since(yesterday_noon) == D("1.875")
    assert store.realized_since(today + timedelta(days=1)) == 0
    # The bound may come in any zone: 02:00 at UTC+2 is midnight UTC.
    plus_two = today.astimezone(timezone(timedelta(hours=2)))
    assert same(store.realized_since(plus_two), D("-3.25"))

    last = store.last_ended_at()
    assert last is not None and last.utcoffset() == timedelta(0)
    assert last == today + timedelta(seconds=2)
    assert [r.id for r in store.active_rounds()] == [ids[3], *ids[4:8]]  # HALTED included
    assert [r.id for r in store.recent_rounds(3)] == ids[::-1][:3]
    assert [r.id for r in store.recent_rounds(100)] == ids[::-1]
    assert store.count_rounds() == len(ids)
    assert [r.id for r in store.finished_since(today, "aster", "SOLUSDT")] == ids[1:3]
    assert [r.id for r in store.finished_since(today, "backpack", "SOL_USDC_PERP")] == ids[1:3]
    assert store.finished_since(today, "aster", "ETHUSDT") == []


def test_free_text_longer_than_its_column_is_cut_not_refused(store: Store) -> None:
    """A halt reason joined over many orders, a venue's long message: PostgreSQL would refuse
    the write (and the daemon lose its lease over it, again at every retry)."""
    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    [order] = store.add_intents([intent(r.id)], CLIENT_IDS)
    assert order.id is not None
    message = "insufficient margin " * 100
    kept = store.record_order(order.id, "order_rejected", status="REJECTED", reject_message=message)
    assert kept.reject_message is not None and len(kept.reject_message) == 512
    moved = store.transition(r.id, "OPENING", "HALTED", "halt", reason="unresolved; " * 100)
    assert moved.reason is not None and len(moved.reason) == 512 and moved.reason.endswith("…")


def test_meta(store: Store, open_store: Callable[[], Store]) -> None:
    assert store.get_meta("paused") is None
    store.set_meta("paused", "1")
    assert store.get_meta("paused") == "1"
    store.set_meta("paused", "0")
    assert open_store().get_meta("paused") == "0"
    # Twelve pairs' reasons joined run past the column: cut, not refused (PostgreSQL).
    joined = "; ".join(f"PAIR{i}USDT: 1 rounds open (max_concurrent_rounds)" for i in range(12))
    store.set_meta("not_opening", joined)
    kept = open_store().get_meta("not_opening")
    assert kept is not None and len(kept) == 256 and joined.startswith(kept[:-1])


# -- SQLite settings -------------------------------------------------------------------


def test_sqlite_connections_are_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'hedged.db'}")
    try:
        # Two connections at once: the pragmas hold on every pooled connection.
        with store.engine.connect() as c1, store.engine.connect() as c2:
            for c in (c1, c2):
                assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (tmp_path / "hedged.db-wal").exists()
    finally:
        store.close()


def test_a_cached_store_reads_exactly_what_the_database_holds(
    store: Store, open_store: Callable[[], Store]
) -> None:
    """The daemon's in-memory copy of active rounds and orders, written through: after every
    write it equals what another connection reads; a finished round leaves it."""
    store.cache_live_rounds()
    reader = open_store()

    def agree(round_id: int) -> None:
        mine, theirs = store.get_round(round_id), reader.get_round(round_id)
        assert mine is not None and theirs is not None
        assert mine.model_dump() == theirs.model_dump()
        assert [o.model_dump() for o in store.orders_of(round_id)] == [
            o.model_dump() for o in reader.orders_of(round_id)
        ]

    r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert r.id is not None
    agree(r.id)
    a, _ = store.add_intents([intent(r.id), intent(r.id, BACKPACK)], CLIENT_IDS)
    agree(r.id)
    assert a.id is not None and a.client_id is not None
    assert store.order_by_client_id(ASTER, a.client_id) is store.get_order(a.id)
    store.record_order(a.id, "order_state", status="FILLED", filled_qty=QTY, avg_price=D("100.5"))
    agree(r.id)
    store.transition(r.id, "OPENING", "MONITORING", "entries_filled", qty=QTY)
    store.add_intents([intent(r.id)], CLIENT_IDS, {"reason": "stop-loss on aster"})
    agree(r.id)
    assert store.get_round(r.id).reason == "stop-loss on aster"  # type: ignore[union-attr]
    store.transition(r.id, "MONITORING", "DONE", "closed")
    agree(r.id)
    assert store.get_round(r.id) is not store.get_round(r.id)  # finished: read, not kept


def test_orders_of_many_rounds_in_one_read(store: Store) -> None:
    ids = []
    for n in range(3):
        r = store.create_round("SOLUSDT", "SOL_USDC_PERP")
        assert r.id is not None
        store.add_intents([intent(r.id) for _ in range(n)], CLIENT_IDS)
        ids.append(r.id)
    many = store.orders_of_rounds(ids)
    assert [len(many[i]) for i in ids] == [0, 1, 2]
    assert all(many[i] == store.orders_of(i) for i in ids)
