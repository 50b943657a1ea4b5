"""The store: rounds, order intents, fills, the event journal, operator commands.

The only module that talks SQL. SQLite (WAL, synchronous=FULL so every commit — and so
every order intent — is durable before the order is sent) by default; any SQLAlchemy URL
by config. Decimals are stored as text so no float ever touches money.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.pool import NullPool, PoolProxiedConnection
from sqlalchemy.sql.dml import Update
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from hedged.livecache import LiveCache
from hedged.model import Fill, FundingInfo, FundingShare, OrderState
from hedged.states.machine import ACTIVE

log = logging.getLogger(__name__)

# 2: leases and daemons (an older hedged would ignore the lease); 3: stop orders (backstops),
# post-only orders and each order's decision price (slippage); 4: funding payments and rates,
# and order intents in a table of their own until their first answer (an older hedged would
# not see them); 5: each round's direction (which venue holds the short)
SCHEMA_VERSION = 5

# Order statuses of our own, besides the venue's (hedged.model.OrderStatus).
INTENT = "INTENT"  # committed, maybe sent: resolve by client id before anything else
AMBIGUOUS = "AMBIGUOUS"  # sent, outcome unknown: resolve by client id, never resend
NEVER_PLACED = "NEVER_PLACED"  # ambiguous, and not found after the signature window
UNRESOLVED = frozenset({INTENT, AMBIGUOUS})
TERMINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", NEVER_PLACED})

ACTIVE_STATES = tuple(s.value for s in ACTIVE)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """Some backends hand back naive datetimes; the store only ever writes UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class DecimalText(TypeDecorator[Decimal]):
    """Decimal as its exact string: SQLite's NUMERIC would round-trip through float."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


def _money(nullable: bool = True) -> Any:
    return Field(default=None, sa_type=DecimalText, nullable=nullable)


META_VALUE_MAX = 256
# Free text from venues and reasons joined over orders or pairs: cut to its column on the way
# in (PostgreSQL refuses a longer value, which would cost the daemon its lease, again and again).
TEXT_LIMITS = {"reason": 512, "reject_message": 512, "reject_code": 64, "value": META_VALUE_MAX}


def fit(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields`, with each free-text value no longer than its column."""
    return {
        k: v[: n - 1] + "…"
        if isinstance(v, str) and len(v) > (n := TEXT_LIMITS.get(k, len(v)))
        else v
        for k, v in fields.items()
    }


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=META_VALUE_MAX)


class RoundRow(SQLModel, table=True):
    __tablename__ = "rounds"
    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(index=True, max_length=16)
    halted_from: str | None = Field(default=None, max_length=16)
    aster_symbol: str = Field(max_length=32)
    backpack_symbol: str = Field(max_length=32)
    short_venue: str = Field(default="aster", max_length=16)  # the other venue holds the long
    qty: Decimal | None = _money()
    reason: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow)
    opened_at: datetime | None = None
    deadline_at: datetime | None = None
    ended_at: datetime | None = Field(default=None, index=True)
    realized_pnl: Decimal | None = _money()
    fees: Decimal | None = _money()
    volume: Decimal | None = _money()


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("venue", "client_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(index=True, foreign_key="rounds.id")
    venue: str = Field(max_length=16)
    symbol: str = Field(max_length=32)
    purpose: str = Field(max_length=16)
    side: str = Field(max_length=4)
    type: str = Field(max_length=16)
    qty: Decimal = _money(nullable=False)
    price: Decimal | None = _money()
    reduce_only: bool = False
    post_only: bool = False
    trigger_price: Decimal | None = _money()  # a stop order's trigger
    # The price the decision was taken on (the touch for a market order, the limit, the
    # trigger): the fills' distance from it is the order's slippage.
    decision_price: Decimal | None = _money()
    client_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default=INTENT, index=True, max_length=20)
    venue_order_id: str | None = Field(default=None, max_length=64)
    filled_qty: Decimal = Field(default=Decimal(0), sa_type=DecimalText, nullable=False)
    avg_price: Decimal | None = _money()
    reject_code: str | None = Field(default=None, max_length=64)
    reject_message: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED


def new_order(**fields: Any) -> OrderRow:
    """An order row built the way SQLAlchemy builds one it loads: the defaults and `fields`
    set at once, without a validation and a change event per field (~0.1 ms a row, on the
    way to a stop's send). For rows made from typed intents, inserted with Core."""
    row: OrderRow = _ORDER_MANAGER.new_instance()
    values = dict(_ORDER_DEFAULTS)
    for name, make in _ORDER_FACTORIES:
        values[name] = make()
    values.update(fields)
    row.__dict__.update(values)
    return row


# What `new_order` sets, read off the model once rather than per row (all immutable values).
_ORDER_MANAGER = manager_of_class(OrderRow)
_ORDER_DEFAULTS = {
    name: f.get_default() for name, f in OrderRow.model_fields.items() if f.default_factory is None
}
_ORDER_FACTORIES: tuple[tuple[str, Callable[[], Any]], ...] = tuple(
    (name, f.default_factory)  # type: ignore[misc]  # none of them takes the other fields
    for name, f in OrderRow.model_fields.items()
    if f.default_factory is not None
)


class IntentRow(SQLModel, table=True):
    """An order's write-ahead intent, from before it is sent until the first answer about it
    is recorded (or, after a crash, until reconciliation resolves it): then, in that
    answer's transaction, the order moves into `orders` and its intent is journaled.

    One narrow row in a table that holds only the orders in flight: the commit that must
    precede every send writes a page or two and updates no index, as a bare durable commit
    does. Its id is the order's id, drawn as `orders` draws one."""

    __tablename__ = "order_intents"
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    body: str  # the order's columns as JSON (`_intent_body`)


def _intent_body(row: OrderRow) -> str:
    """An order row as its intent holds it: every column but the id and the status, the
    Decimals as their exact strings, the times in ISO 8601."""
    values = row.__dict__  # what getattr reads, without a descriptor call per column
    fields = {f: values[f] for f in _INTENT_FIELDS}
    for f in _INTENT_TIMES:
        fields[f] = as_utc(fields[f]).isoformat()
    return json.dumps(fields, default=str)


def _intent_order(order_id: int, body: str) -> OrderRow:
    """The order an intent row stands for."""
    fields: dict[str, Any] = json.loads(body)
    for f in _INTENT_MONEY:
        if fields[f] is not None:
            fields[f] = Decimal(fields[f])
    for f in _INTENT_TIMES:
        fields[f] = datetime.fromisoformat(fields[f])
    return new_order(id=order_id, status=INTENT, **fields)


class FillRow(SQLModel, table=True):
    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("venue", "trade_id"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(index=True, foreign_key="orders.id")
    round_id: int = Field(index=True, foreign_key="rounds.id")
    venue: str = Field(max_length=16)
    trade_id: str = Field(max_length=64)
    side: str = Field(max_length=4)
    qty: Decimal = _money(nullable=False)
    price: Decimal = _money(nullable=False)
    fee: Decimal = _money(nullable=False)
    maker: bool = False
    at: datetime = Field(default_factory=utcnow)  # the venue's trade time where it gives one


class TradeFigures(NamedTuple):
    """A fill as far as its round's costs go (`Store.finished_costs`)."""

    round_id: int
    venue: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    maker: bool


class DecisionFigures(NamedTuple):
    """An order as far as its slippage goes (`Store.finished_costs`)."""

    round_id: int
    venue: str
    side: str
    filled_qty: Decimal
    avg_price: Decimal | None
    decision_price: Decimal | None


class EventRow(SQLModel, table=True):
    """The append-only journal: transitions, orders sent, venue answers, commands."""

    __tablename__ = "events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    round_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=32)
    detail: str = Field(default="{}")


class CommandRow(SQLModel, table=True):
    __tablename__ = "commands"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=16)
    round_id: int | None = None
    status: str = Field(default="PENDING", index=True, max_length=16)
    result: str | None = Field(default=None, max_length=512)
    applied_at: datetime | None = None


class LeaseRow(SQLModel, table=True):
    """Who trades a book (docs/leadership.md): the holder, an epoch that grows with every
    new holder, and an expiry on the database's clock that the holder keeps pushing on."""

    __tablename__ = "leases"
    book: str = Field(primary_key=True, max_length=128)
    epoch: int = 0
    holder: str | None = Field(default=None, max_length=128)  # one daemon process, unique
    host: str | None = Field(default=None, max_length=128)
    pid: int | None = None
    started_at: datetime | None = None  # when the holding process started
    since: datetime | None = None  # when it took the lease
    expires_ms: int = Field(default=0, sa_type=BigInteger)  # 0: released


class DaemonRow(SQLModel, table=True):
    """Each daemon's check-in: leaders and standbys, so an operator sees who is there."""

    __tablename__ = "daemons"
    holder: str = Field(primary_key=True, max_length=128)
    book: str = Field(max_length=128)
    host: str = Field(max_length=128)
    pid: int
    started_at: datetime
    role: str = Field(max_length=16)
    seen_ms: int = Field(sa_type=BigInteger)


class QuoteRow(SQLModel, table=True):
    """Latest prices the daemon saw, so `hedgectl` can show them without a venue call."""

    __tablename__ = "quotes"
    venue: str = Field(primary_key=True, max_length=16)
    symbol: str = Field(primary_key=True, max_length=32)
    bid: Decimal = _money(nullable=False)
    ask: Decimal = _money(nullable=False)
    at: datetime = Field(default_factory=utcnow)


class FundingRow(SQLModel, table=True):
    """A round's share of one funding payment on one of its legs (docs/architecture.md#funding):
    a payment split over several rounds holding the symbol is one row per round."""

    __tablename__ = "funding"
    __table_args__ = (UniqueConstraint("venue", "payment_id", "round_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(index=True, foreign_key="rounds.id")
    venue: str = Field(max_length=16)
    payment_id: str = Field(max_length=64)
    symbol: str = Field(max_length=32)
    amount: Decimal = _money(nullable=False)  # + received, - paid, in the quote currency
    share_qty: Decimal = _money(nullable=False)  # the round's quantity it was attributed on
    at: datetime  # when the venue settled it


class FundingRateRow(SQLModel, table=True):
    """The last funding rate and next settlement the daemon read per venue and symbol, so
    `hedgectl` can show them without a venue call."""

    __tablename__ = "funding_rates"
    venue: str = Field(primary_key=True, max_length=16)
    symbol: str = Field(primary_key=True, max_length=32)
    rate: Decimal = _money(nullable=False)
    interval_hours: Decimal = _money(nullable=False)
    next_at: datetime
    mark_price: Decimal | None = _money()
    at: datetime = Field(default_factory=utcnow)


# The order path's writes: an intent through the driver itself (`Store.add_intents`: the
# commit every send waits for), each venue answer as prepared Core statements (a few
# statements and a commit, not an ORM unit of work: ~1 ms less apiece).
_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]
_INTENTS = IntentRow.__table__  # type: ignore[attr-defined]
_ROUNDS = RoundRow.__table__  # type: ignore[attr-defined]
_ORDER_COLUMNS = [c.name for c in _ORDERS.columns]
_INSERT_ORDER = insert(_ORDERS)  # an intent moving in, with its id
_TAKE_INTENT = delete(_INTENTS).where(_INTENTS.c.id == bindparam("oid")).returning(_INTENTS.c.body)
_INTENT_FIELDS = [c.name for c in _ORDERS.columns if c.name not in ("id", "status")]
_INTENT_MONEY = [c.name for c in _ORDERS.columns if isinstance(c.type, DecimalText)]
_INTENT_TIMES = ("created_at", "updated_at")
_PENDING_INTENTS = sa_select(_INTENTS.c.id, _INTENTS.c.body).order_by(_INTENTS.c.id)
_ANSWER_FIELDS = (  # what a venue's answer may change on an order
    "status",
    "venue_order_id",
    "filled_qty",
    "avg_price",
    "reject_code",
    "reject_message",
    "updated_at",
)
_UPDATE_ORDER = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("oid"))
    .values({f: bindparam(f"new_{f}") for f in _ANSWER_FIELDS})
)
_INSERT_EVENT = insert(_EVENTS)
_COMMANDS = CommandRow.__table__  # type: ignore[attr-defined]
_ANY_PENDING = sa_select(_COMMANDS.c.id).where(_COMMANDS.c.status == "PENDING").limit(1)
_QUOTES = QuoteRow.__table__  # type: ignore[attr-defined]
_FUNDING_RATES = FundingRateRow.__table__  # type: ignore[attr-defined]


@functools.cache
def _round_update(fields: tuple[str, ...]) -> Update:
    values: dict[str, Any] = {f: bindparam(f"new_{f}") for f in fields}
    return update(_ROUNDS).where(_ROUNDS.c.id == bindparam("rid")).values(values)


@functools.cache
def _quote_upsert(dialect: str) -> Any:
    stmt = (sqlite_insert if dialect == "sqlite" else pg_insert)(_QUOTES)
    return stmt.on_conflict_do_update(
        index_elements=[_QUOTES.c.venue, _QUOTES.c.symbol],
        set_={"bid": stmt.excluded.bid, "ask": stmt.excluded.ask, "at": stmt.excluded.at},
    )


@functools.cache
def _funding_rate_upsert(dialect: str) -> Any:
    stmt = (sqlite_insert if dialect == "sqlite" else pg_insert)(_FUNDING_RATES)
    columns = ("rate", "interval_hours", "next_at", "mark_price", "at")
    return stmt.on_conflict_do_update(
        index_elements=[_FUNDING_RATES.c.venue, _FUNDING_RATES.c.symbol],
        set_={c: stmt.excluded[c] for c in columns},
    )


# Schema migrations: version N -> N+1, applied in order at open. Version 1 is create_all.
# From version v to v + 1: statements, each for every backend or for one (by dialect name).
MIGRATIONS: dict[int, Sequence[str | Mapping[str, str]]] = {
    1: (),  # 2 adds tables only: create_all makes them
    2: (
        "ALTER TABLE orders ADD COLUMN trigger_price VARCHAR(64)",
        "ALTER TABLE orders ADD COLUMN decision_price VARCHAR(64)",
        "ALTER TABLE orders ADD COLUMN post_only BOOLEAN NOT NULL DEFAULT FALSE",
        {"postgresql": "ALTER TABLE orders ALTER COLUMN type TYPE VARCHAR(16)"},
    ),
    3: (),  # 4 adds tables only (funding, funding_rates, order_intents): create_all makes them
    # every round before 5 put its short on Aster
    4: ("ALTER TABLE rounds ADD COLUMN short_venue VARCHAR(16) NOT NULL DEFAULT 'aster'",),
}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_no_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# A one-page write that starts a fully copied WAL over (`checkpoint`); SQLite writes no page
# for an update that changes nothing, so it notes when.
_RESTART_WAL = (
    "INSERT INTO meta (key, value) VALUES ('wal_started_at', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


IDLE_IN_TRANSACTION_MS = 1000


def open_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # The process in the name: an operator (or a test) can tell whose connections are whose.
    # A transaction of ours never idles (each runs in one synchronous call): one that does
    # belongs to a frozen process, and the server ends it, releasing the lease row it
    # share-locked, so a standby can take over.
    args = {
        "application_name": f"hedged[{os.getpid()}]",
        "connect_timeout": 5,
        "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
    }
    return create_engine(url, pool_pre_ping=True, connect_args=args)


class SchemaTooNew(RuntimeError):
    pass


class Deposed(Exception):
    """This daemon no longer holds the book's lease: the write was rolled back."""


class NotHeld(Deposed):
    """A fleet's daemon acted on a round of a book it does not hold (by its own lease): a
    bookkeeping slip of this daemon, not a lost lease; nothing was written."""


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a daemon's writes stand on: each of its transactions checks, before it
    commits, that the book's lease still has this holder and epoch."""

    book: str
    holder: str
    epoch: int
    valid: Callable[[], bool]  # the holder's own (monotonic) view: False once it may lapse
    also: tuple[tuple[str, int], ...] = ()  # further books held with it: (book, epoch)

    @property
    def books(self) -> tuple[tuple[str, int], ...]:
        """Every book the writes stand on, with its epoch."""
        return ((self.book, self.epoch), *self.also)


@dataclass(frozen=True, slots=True)
class Claim:
    """Who asks for a lease."""

    book: str
    holder: str
    host: str
    pid: int
    started_at: datetime


_LEASES = LeaseRow.__table__  # type: ignore[attr-defined]
_DAEMONS = DaemonRow.__table__  # type: ignore[attr-defined]


def _check_lease(holder: str, book: str, epoch: int, lease: Sequence[Any] | None) -> None:
    """Deposed unless the book's lease row read in the write's transaction, (holder, epoch),
    is ours."""
    if lease is None or (lease[0], lease[1]) != (holder, epoch):
        now = "nobody" if lease is None else f"epoch {lease[1]}"
        raise Deposed(f"lease of {book} is at {now}, not our epoch {epoch}")


def _db_now_sql(dialect: str) -> str:
    """Milliseconds since the epoch on the database's clock: the one clock every host shares."""
    if dialect == "sqlite":
        return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"


# -- read-only opening (hedgectl): nothing is created, not even a table or a -wal file ------


class SchemaTooOld(RuntimeError):
    """A reader cannot migrate: the daemon of this version does it when it starts."""


class NotHedgedDatabase(RuntimeError):
    """The database is there but holds no hedged store: empty, or another application's."""


HEDGED_TABLES = (
    "meta",
    "rounds",
    "orders",
    "fills",
    "events",
    "commands",
    "quotes",
    "leases",
    "daemons",
)


def _sqlite_readonly(path: Path) -> sqlite3.Connection:
    uri = path.absolute().as_uri() + "?mode=ro"
    with path.open("rb") as f:
        wal_mode = f.read(20)[18:20] == b"\x02\x02"
    if wal_mode and not Path(f"{path}-wal").exists():
        # No connection has it open (its -wal lives while one does), so the file holds every
        # commit; a plain read-only open would leave -wal/-shm behind (root's, under sudo).
        uri += "&immutable=1"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=5000")
    return connection


def _postgres_readonly(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cursor.close()
    dbapi_connection.commit()


def open_readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened read-only (a connection per use, so a
    daemon starting later is seen), PostgreSQL in read-only transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_readonly)
        return engine
    if parsed.database in (None, "", ":memory:"):
        raise NotHedgedDatabase("not a hedged database: an in-memory SQLite database is empty")
    path = Path(parsed.database)
    if not path.exists():
        raise FileNotFoundError(f"no database at {path}")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise NotHedgedDatabase(f"not a hedged database: {path} is {kind}")
    with path.open("rb") as f:
        head = f.read(16)
    if head and head != b"SQLite format 3\x00":
        raise NotHedgedDatabase(f"not a hedged database: {path} is not an SQLite file")
    return create_engine(url, creator=functools.partial(_sqlite_readonly, path), poolclass=NullPool)


@dataclass(frozen=True)
class _IntentSQL:
    """The intent commit's statements in the driver's own SQL (`Store.add_intents`)."""

    dialect: Any
    begin: str | None  # SQLite: take the write lock first, so the ids read stay ours
    next_ids: str  # SQLite: the highest order id so far; PostgreSQL: the next n of `orders`'
    insert: str
    lease: str
    dbapi_error: Any  # the driver's Error class

    @classmethod
    def of(cls, engine: Engine) -> _IntentSQL:
        dialect = engine.dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        if dialect.name == "sqlite":
            begin: str | None = "BEGIN IMMEDIATE"
            # ids are never reused: an intent leaves its table only as its order's row
            next_ids = (
                "SELECT max(coalesce((SELECT max(id) FROM orders), 0),"
                " coalesce((SELECT max(id) FROM order_intents), 0))"
            )
            lock = ""
        else:  # the sequence `orders` draws its ids from
            with engine.connect() as c:
                sequence = c.exec_driver_sql(
                    "SELECT pg_get_serial_sequence('orders', 'id')"
                ).scalar_one()
            begin, lock = None, " FOR SHARE"
            next_ids = f"SELECT nextval('{sequence}') FROM generate_series(1, {mark})"
        return cls(
            dialect=dialect,
            begin=begin,
            next_ids=next_ids,
            insert=f"INSERT INTO order_intents (id, body) VALUES ({mark}, {mark})",
            lease=f"SELECT holder, epoch FROM leases WHERE book = {mark}{lock}",
            dbapi_error=dialect.loaded_dbapi.Error,
        )

    def ids(self, cursor: DBAPICursor, n: int) -> list[int]:
        """The ids of the next n orders."""
        if self.dialect.name == "sqlite":
            cursor.execute(self.next_ids)
            (highest,) = cursor.fetchone() or (0,)
            return list(range(int(highest) + 1, int(highest) + 1 + n))
        cursor.execute(self.next_ids, (n,))
        return [int(i) for (i,) in cursor.fetchall()]

    def round_update(self, fields: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """UPDATE of a round's `fields` (columns of `rounds`), the round's id its last
        parameter, and the fields' values as the driver takes them."""
        mark = "?" if self.dialect.paramstyle == "qmark" else "%s"
        values = []
        for name, value in fields.items():
            process = _ROUNDS.c[name].type.bind_processor(self.dialect)
            values.append(value if process is None else process(value))
        assignments = ", ".join(f"{_ROUNDS.c[name].name} = {mark}" for name in fields)
        return f"UPDATE rounds SET {assignments} WHERE id = {mark}", values


class Store:
    def __init__(self, url: str, *, readonly: bool = False) -> None:
        """`readonly`: open an existing hedged database without writing or creating anything
        (NotHedgedDatabase, SchemaTooNew or SchemaTooOld otherwise)."""
        self.url = url
        self.engine = open_readonly_engine(url) if readonly else open_engine(url)
        self._live: LiveCache | None = None
        self.fence: Fence | None = None  # set by the daemon while it holds the book's lease
        # A daemon of a fleet: which (venue, symbol) are its books' (None: every one); the
        # rounds and orders of others' books are not its to read back, step or record.
        self.scope: Callable[[str, str], bool] | None = None
        self._lease_engine: Engine | None = None
        self._intent_statements: _IntentSQL | None = None
        self._intent_connection: PoolProxiedConnection | None = None
        # Order rows this process changed, counted: what is derived from a round's orders
        # (its legs) is stale once the count moves (a row is changed in place).
        self.order_writes = 0
        try:
            if readonly:
                self.namespace = self._check_schema()
            else:
                self._migrate()
                self.namespace = self._namespace()
        except BaseException:  # e.g. SchemaTooNew: do not leak the pooled connection
            self.engine.dispose()
            raise

    def close(self) -> None:
        self._drop_intent_connection()
        self.engine.dispose()
        if self._lease_engine is not None:
            self._lease_engine.dispose()

    def cache_live_rounds(self) -> None:
        """Keep active rounds and their orders in memory: only for the process that is their
        one writer (the daemon, while it holds the lease); a reader such as hedgectl, or a
        standby, must see the database. Called again, it starts from an empty cache."""
        self._live = LiveCache(ACTIVE_STATES)

    def drop_cache(self) -> None:
        """Forget the in-memory rounds: another daemon may write them from now on."""
        self._live = None

    def checkpoint_beside(self) -> None:
        """SQLite: commits stop copying the WAL into the database file each time it passes
        1,000 pages — that copy and its fsyncs would land on whichever commit crossed the
        mark, a stop order's intent say; the caller runs `checkpoint()` off its loop."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            event.listen(self.engine, "connect", _no_autocheckpoint)
            self._drop_intent_connection()
            self.engine.dispose()  # pooled connections reopen with the setting

    def checkpoint(self) -> None:
        """Copy the WAL's committed pages into the database file. PASSIVE: it neither waits
        for nor holds up a writer. Safe from another thread (its own pooled connection).

        When every page was copied, a one-page write starts the WAL over here: the next
        writer would, and with synchronous=FULL its commit would also sync the WAL's new
        header — in a quiet market, often a stop's intent (measured alone: ~0.45 ms instead
        of ~0.28)."""
        if self.engine.dialect.name != "sqlite":
            return
        try:
            with self.engine.connect() as c:
                busy, frames, copied = c.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
                if not busy and frames > 0 and copied == frames:
                    c.exec_driver_sql(_RESTART_WAL, (utcnow().isoformat(),))
                    c.commit()
        except SQLAlchemyError as e:  # commits still land in the WAL; the next call retries
            log.warning("store: WAL checkpoint failed: %s", e)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    def _commit(self, s: Session) -> None:
        self._fenced(s.connection())
        s.commit()

    def _fenced(self, c: Connection) -> None:
        """Inside a write transaction, just before it commits: raise Deposed (so it rolls
        back) unless this daemon still holds the lease its writes stand on. PostgreSQL: the
        row is share-locked, so a takeover waits for this commit or this commit sees it;
        SQLite: the transaction already holds the database's write lock."""
        fence = self._fence_to_check()
        if fence is None:
            return
        wanted = dict(fence.books)  # a daemon of several pairs: every book's lease, one read
        q = (
            sa_select(_LEASES.c.book, _LEASES.c.holder, _LEASES.c.epoch)
            .where(_LEASES.c.book.in_(list(wanted)))
            .with_for_update(read=True)
        )
        rows = {row.book: (row.holder, row.epoch) for row in c.execute(q)}
        for book, epoch in wanted.items():
            _check_lease(fence.holder, book, epoch, rows.get(book))

    def _ours(self, venue: str, symbol: str) -> None:
        """Deposed unless a fleet's daemon holds the book of `symbol`: a round opened, moved
        or an order sent on another daemon's book would be a second trader on it."""
        if (ours := self.scope) is not None and not ours(venue, symbol):
            raise NotHeld(f"{venue} {symbol} is not a book this daemon holds")

    def _fence_to_check(self) -> Fence | None:
        """The fence a write must check (None: not a leader's store); Deposed at once if the
        holder's own clock says the lease may have lapsed."""
        fence = self.fence
        if fence is not None and not fence.valid():
            raise Deposed(f"lease of {fence.book} (epoch {fence.epoch}) may have lapsed")
        return fence

    # -- leadership ---------------------------------------------------------------------

    def _leases(self) -> Engine:
        """Lease and check-in writes. SQLite: on connections that do not wait for the disk
        (a renewal lost in a power cut only shortens the lease), so they hold the write lock
        for microseconds, never queueing an intent's durable commit behind an fsync."""
        if self._lease_engine is None:
            if self.engine.dialect.name != "sqlite":
                self._lease_engine = self.engine
            else:
                self._lease_engine = open_engine(self.url)
                event.listen(self._lease_engine, "connect", _sqlite_no_sync)
                event.listen(self._lease_engine, "connect", _no_autocheckpoint)
        return self._lease_engine

    def _now_ms(self) -> Any:
        return literal_column(_db_now_sql(self.engine.dialect.name), BigInteger)

    def lease(self, book: str) -> tuple[LeaseRow | None, int]:
        """The book's lease as stored, and the database's clock now (ms); reads only."""
        rows, now = self.leases(book)
        return (rows[0] if rows else None), now

    def leases(self, book: str | None = None) -> tuple[list[LeaseRow], int]:
        """The leases (of every book, or of one), and the database's clock now (ms)."""
        q = sa_select(_LEASES).order_by(_LEASES.c.book)
        if book is not None:
            q = q.where(_LEASES.c.book == book)
        with self.engine.connect() as c:
            now = c.execute(sa_select(self._now_ms())).scalar_one()
            return [LeaseRow(**r._mapping) for r in c.execute(q)], int(now)

    def take_lease(self, claim: Claim, ttl_ms: int) -> tuple[LeaseRow | None, LeaseRow | None]:
        """Take the book's lease if it is free, lapsed, released or already ours (then with
        a new epoch all the same): (the lease taken or None, the lease as it was)."""
        insert_ = sqlite_insert if self.engine.dialect.name == "sqlite" else pg_insert
        with self._leases().begin() as c:
            if self.engine.dialect.name != "sqlite":  # a frozen holder's lock ends in 1 s
                c.exec_driver_sql(f"SET LOCAL lock_timeout = {2 * IDLE_IN_TRANSACTION_MS}")
            # First a write, so SQLite takes its write lock before anything is read.
            c.execute(insert_(_LEASES).values(book=claim.book).on_conflict_do_nothing())
            now = int(c.execute(sa_select(self._now_ms())).scalar_one())
            q = sa_select(_LEASES).where(_LEASES.c.book == claim.book).with_for_update()
            before = LeaseRow(**c.execute(q).one()._mapping)
            if before.holder not in (None, claim.holder) and before.expires_ms > now:
                return None, before
            taken = LeaseRow(
                book=claim.book,
                epoch=before.epoch + 1,
                holder=claim.holder,
                host=claim.host,
                pid=claim.pid,
                started_at=claim.started_at,
                since=utcnow(),
                expires_ms=now + ttl_ms,
            )
            values = taken.model_dump(exclude={"book"})
            c.execute(update(_LEASES).where(_LEASES.c.book == claim.book).values(values))
        return taken, before

    def renew_lease(self, book: str, holder: str, epoch: int, ttl_ms: int) -> bool:
        """Push the lease's expiry on; False if it is no longer ours at this epoch."""
        with self._leases().begin() as c:
            q = (
                update(_LEASES)
                .where(_LEASES.c.book == book, _LEASES.c.holder == holder, _LEASES.c.epoch == epoch)
                .values(expires_ms=self._now_ms() + ttl_ms)
            )
            return c.execute(q).rowcount == 1

    def release_lease(self, book: str, holder: str, epoch: int) -> None:
        """Let a standby take the lease at once (a clean stop)."""
        with self._leases().begin() as c:
            c.execute(
                update(_LEASES)
                .where(_LEASES.c.book == book, _LEASES.c.holder == holder, _LEASES.c.epoch == epoch)
                .values(expires_ms=0)
            )

    def check_in(self, claim: Claim, role: str) -> None:
        """Record that this daemon is alive and in which role."""
        insert_ = sqlite_insert if self.engine.dialect.name == "sqlite" else pg_insert
        values = {
            "holder": claim.holder,
            "book": claim.book,
            "host": claim.host,
            "pid": claim.pid,
            "started_at": claim.started_at,
            "role": role,
            "seen_ms": self._now_ms(),
        }
        q = insert_(_DAEMONS).values(values)
        q = q.on_conflict_do_update(
            index_elements=[_DAEMONS.c.holder],
            set_={"role": q.excluded.role, "seen_ms": q.excluded.seen_ms},
        )
        with self._leases().begin() as c:
            c.execute(q)

    def check_out(self, holder: str) -> None:
        with self._leases().begin() as c:
            c.execute(_DAEMONS.delete().where(_DAEMONS.c.holder == holder))

    def daemons(self) -> tuple[list[DaemonRow], int]:
        """Every daemon's last check-in, and the database's clock now (ms)."""
        with self.engine.connect() as c:
            now = c.execute(sa_select(self._now_ms())).scalar_one()
            rows = c.execute(sa_select(_DAEMONS).order_by(_DAEMONS.c.seen_ms.desc()))
            return [DaemonRow(**r._mapping) for r in rows], int(now)

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Refuse a newer schema, migrate an older one, then create what is missing."""
        Meta.metadata.create_all(self.engine, tables=[Meta.__table__])  # type: ignore[attr-defined]
        with self.session() as s:
            row = s.get(Meta, "schema_version")
            fresh = row is None and not inspect(self.engine).has_table("rounds")
            version = SCHEMA_VERSION if fresh else int(row.value) if row else 1
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"database schema version {version} is newer than this hedged "
                    f"({SCHEMA_VERSION}); upgrade hedged"
                )
            dialect = self.engine.dialect.name
            for v in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[v]:
                    sql = statement if isinstance(statement, str) else statement.get(dialect)
                    if sql is not None:
                        s.connection().exec_driver_sql(sql)
            s.merge(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
            s.commit()
        SQLModel.metadata.create_all(self.engine)

    def _check_schema(self) -> int:
        """What `_migrate` would do, as checks only; returns the stored namespace."""
        present = set(inspect(self.engine).get_table_names())
        if missing := [t for t in HEDGED_TABLES if t not in present]:
            what = (
                "it has no tables"
                if not present
                else "its tables are another application's"
                if len(missing) == len(HEDGED_TABLES)
                else f"no table {', '.join(missing)}"
            )
            raise NotHedgedDatabase(f"not a hedged database ({what})")
        version = int(self.get_meta("schema_version") or 1)
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"database schema version {version} is newer than this hedged "
                f"({SCHEMA_VERSION}); upgrade hedged"
            )
        if version < SCHEMA_VERSION:
            raise SchemaTooOld(
                f"database schema version {version} is older than this hedged "
                f"({SCHEMA_VERSION}); start the daemon once to migrate it"
            )
        return int(self.get_meta("namespace") or 0)

    def schema_version(self) -> int:
        with self.session() as s:
            row = s.get(Meta, "schema_version")
            return int(row.value) if row else 0

    def get_meta(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Meta, key)
            return None if row is None else row.value

    def set_meta(self, key: str, value: str) -> None:
        """A value longer than the column is cut (a reason joined over many pairs: each
        pair's own stays whole under its own key); PostgreSQL would refuse the write."""
        with self.session() as s:
            s.merge(Meta(key=key, **fit({"value": value})))
            self._commit(s)

    def _namespace(self) -> int:
        """A random per-installation number that keeps client order ids unique per
        account even after the database is reset."""
        with self.session() as s:
            row = s.get(Meta, "namespace")
            if row is None:
                row = Meta(key="namespace", value=str(secrets.randbits(32)))
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:  # another process created it first
                    s.rollback()
                    row = s.get(Meta, "namespace")
                    assert row is not None
            return int(row.value)

    # -- journal ------------------------------------------------------------------------

    @staticmethod
    def _event(s: Session, round_id: int | None, kind: str, detail: dict[str, Any]) -> None:
        s.add(EventRow(round_id=round_id, kind=kind, detail=json.dumps(detail, default=str)))

    @staticmethod
    def _core_event(c: Connection, round_id: int, kind: str, detail: dict[str, Any]) -> None:
        event = {"at": utcnow(), "round_id": round_id, "kind": kind}
        c.execute(_INSERT_EVENT, event | {"detail": json.dumps(detail, default=str)})

    def journal(self, round_id: int | None, kind: str, **detail: Any) -> None:
        with self.session() as s:
            self._event(s, round_id, kind, detail)
            self._commit(s)

    def events_of(self, round_id: int) -> list[EventRow]:
        with self.session() as s:
            q = select(EventRow).where(EventRow.round_id == round_id).order_by(col(EventRow.id))
            return list(s.exec(q))

    # -- rounds -------------------------------------------------------------------------

    def create_round(
        self,
        aster_symbol: str,
        backpack_symbol: str,
        short_venue: str = "aster",
        why: Mapping[str, Any] | None = None,
    ) -> RoundRow:
        """A new round in OPENING, its short on `short_venue`; `why` (how the direction was
        chosen) is journaled with it."""
        self._ours("aster", aster_symbol)
        with self.session() as s:
            row = RoundRow(
                state="OPENING",
                aster_symbol=aster_symbol,
                backpack_symbol=backpack_symbol,
                short_venue=short_venue,
            )
            s.add(row)
            s.flush()
            self._event(s, row.id, "round_created", {"state": row.state, "short": short_venue})
            if why is not None:
                self._event(s, row.id, "direction", {"short": short_venue, **why})
            self._commit(s)
        return self._cached_round(row, orders=[])

    def _cached_round(self, row: RoundRow, orders: list[OrderRow] | None = None) -> RoundRow:
        if self._live is not None:
            self._live.put_round(row)
            if orders is not None and row.id is not None:
                self._live.load_orders(row.id, orders)
        return row

    def get_round(self, round_id: int) -> RoundRow | None:
        if self._live is not None and round_id in self._live.rounds:
            return self._live.rounds[round_id]
        with self.session() as s:
            row = s.get(RoundRow, round_id)
        return None if row is None else self._cached_round(row)

    def active_rounds(self) -> list[RoundRow]:
        with self.session() as s:
            q = (
                select(RoundRow)
                .where(col(RoundRow.state).in_(ACTIVE_STATES))
                .order_by(col(RoundRow.id))
            )
            rows = list(s.exec(q))
        if (ours := self.scope) is not None:
            rows = [r for r in rows if ours("aster", r.aster_symbol)]
        return [self._cached_round(r) for r in rows]

    def recent_rounds(self, limit: int) -> list[RoundRow]:
        with self.session() as s:
            q = select(RoundRow).order_by(col(RoundRow.id).desc()).limit(limit)
            return list(s.exec(q))

    def rounds_of(self, pair: str, limit: int) -> list[RoundRow]:
        """The most recent rounds of one pair (its Aster or Backpack symbol, or `A/B`)."""
        aster, _slash, backpack = pair.partition("/")
        where = (
            (RoundRow.aster_symbol == aster) & (RoundRow.backpack_symbol == backpack)
            if backpack
            else (RoundRow.aster_symbol == pair) | (RoundRow.backpack_symbol == pair)
        )
        with self.session() as s:
            q = select(RoundRow).where(where).order_by(col(RoundRow.id).desc()).limit(limit)
            return list(s.exec(q))

    def count_rounds(self) -> int:
        with self.session() as s:
            return int(s.exec(select(func.count()).select_from(RoundRow)).one())

    def update_round(self, round_id: int, **fields: Any) -> RoundRow:
        with self.session() as s:
            row = s.get(RoundRow, round_id)
            assert row is not None, f"round {round_id} does not exist"
            for k, v in fit(fields).items():
                setattr(row, k, v)
            self._commit(s)
        return self._cached_round(row)

    def transition(
        self, round_id: int, source: str, dest: str, trigger: str, **fields: Any
    ) -> RoundRow:
        """Move a round to `dest` and journal it, in one transaction."""
        with self.session() as s:
            row = s.get(RoundRow, round_id)
            assert row is not None, f"round {round_id} does not exist"
            self._ours("aster", row.aster_symbol)
            if row.state != source:
                self._fenced(s.connection())  # moved by the daemon that deposed us: Deposed
                raise RuntimeError(f"round {round_id} is {row.state}, not {source}")
            row.state = dest
            fields = fit(fields)
            for k, v in fields.items():
                setattr(row, k, v)
            detail = {"from": source, "to": dest, "trigger": trigger, **fields}
            self._event(s, round_id, "transition", detail)
            self._commit(s)
        return self._cached_round(row)

    def realized_since(self, since: datetime, aster_symbol: str | None = None) -> Decimal:
        """Of every round done since `since`, or of one pair's (by its Aster symbol)."""
        with self.session() as s:
            # the column alone, summed here: exact Decimals (a database SUM may go through float)
            q = select(col(RoundRow.realized_pnl)).where(
                RoundRow.state == "DONE", col(RoundRow.ended_at) >= since
            )
            if aster_symbol is not None:
                q = q.where(RoundRow.aster_symbol == aster_symbol)
            return sum((pnl or Decimal(0) for pnl in s.exec(q)), Decimal(0))

    def last_ended_at(self, aster_symbol: str | None = None) -> datetime | None:
        with self.session() as s:
            q = select(func.max(RoundRow.ended_at))
            if aster_symbol is not None:
                q = q.where(RoundRow.aster_symbol == aster_symbol)
            return s.exec(q).one()

    def finished_since(self, since: datetime, venue: str, symbol: str) -> list[RoundRow]:
        """The rounds done since `since` that traded `symbol` on `venue`."""
        traded = RoundRow.aster_symbol if venue == "aster" else RoundRow.backpack_symbol
        with self.session() as s:
            q = select(RoundRow).where(
                RoundRow.state == "DONE", col(RoundRow.ended_at) >= since, traded == symbol
            )
            return list(s.exec(q.order_by(col(RoundRow.id))))

    # -- orders -------------------------------------------------------------------------

    def add_intents(
        self,
        intents: Iterable[OrderRow],
        client_ids: Mapping[str, Callable[[int, int], str]],
        round_fields: Mapping[str, Any] = {},
    ) -> list[OrderRow]:
        """Commit order intents durably, all or none, each with its client id derived
        from its order id (`client_ids[venue](namespace, id)` makes the id), with the
        round's `round_fields` in the same transaction: one disk flush, not two.

        Every send waits for this commit, so it costs what a bare durable commit costs: one
        narrow row per intent in `order_intents`, no index, no journal row (the order moves
        into `orders` and its intent is journaled with its first answer: `record_order`),
        a few statements through the database driver itself."""
        rows = list(intents)
        for row in rows:
            self._ours(row.venue, row.symbol)
        sql = self._intent_sql()
        raw = self._intent_raw()
        cursor = raw.cursor()
        try:
            try:
                if sql.begin is not None:
                    cursor.execute(sql.begin)
                for row, oid in zip(rows, sql.ids(cursor, len(rows)), strict=True):
                    cid = client_ids[row.venue](self.namespace, oid)
                    # as `new_order` sets fields: no validation or change event per field
                    row.__dict__.update(id=oid, status=INTENT, client_id=cid)
                cursor.executemany(sql.insert, [(r.id, _intent_body(r)) for r in rows])
                if round_fields:
                    update_sql, values = sql.round_update(round_fields)
                    cursor.execute(update_sql, (*values, rows[0].round_id))
                if (fence := self._fence_to_check()) is not None:
                    # no intent, so no order, from a daemon that lost the lease
                    for book, epoch in fence.books:
                        cursor.execute(sql.lease, (book,))
                        _check_lease(fence.holder, book, epoch, cursor.fetchone())
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
        except sql.dbapi_error as e:  # as SQLAlchemy raises it: the daemon steps down on it
            if self.engine.dialect.is_disconnect(e, raw.dbapi_connection, cursor):
                self._intent_connection = None
                raw.invalidate(e)
            raise DBAPIError.instance(None, None, e, sql.dbapi_error) from e
        finally:
            cursor.close()
            if raw is not self._intent_connection:
                raw.close()
        if self._live is not None:
            cached = self._live.rounds.get(rows[0].round_id) if rows else None
            if cached is not None:  # the committed values, as `new_order` sets fields
                cached.__dict__.update(round_fields)
            for row in rows:
                self._live.put_order(row)
        self.order_writes += 1
        return rows

    def _intent_sql(self) -> _IntentSQL:
        if self._intent_statements is None:
            self._intent_statements = _IntentSQL.of(self.engine)
        return self._intent_statements

    def _intent_raw(self) -> PoolProxiedConnection:
        """SQLite: a connection the intents keep, rather than one taken from the pool and
        handed back (its checks and its reset) around every commit before a send; other
        databases: one from the pool (its pre-ping finds a dropped connection)."""
        if self.engine.dialect.name != "sqlite":
            return self.engine.raw_connection()
        if self._intent_connection is None:
            self._intent_connection = self.engine.raw_connection()
        return self._intent_connection

    def _drop_intent_connection(self) -> None:
        if self._intent_connection is not None:
            self._intent_connection.close()
            self._intent_connection = None

    def get_order(self, order_id: int) -> OrderRow:
        cached = None if self._live is None else self._live.order(order_id)
        if cached is not None:
            return cached
        with self.session() as s:
            row = s.get(OrderRow, order_id) or next(
                (o for o in self._intents(s) if o.id == order_id), None
            )
            assert row is not None, f"order {order_id} does not exist"
            return row

    def orders_of(self, round_id: int) -> list[OrderRow]:
        cached = None if self._live is None else self._live.orders_of(round_id)
        if cached is not None:
            return cached
        with self.session() as s:
            q = select(OrderRow).where(OrderRow.round_id == round_id)
            rows = list(s.exec(q)) + [o for o in self._intents(s) if o.round_id == round_id]
        rows.sort(key=_order_id)
        if self._live is not None:
            self._live.load_orders(round_id, rows)
        return rows

    def orders_of_rounds(self, round_ids: Iterable[int]) -> dict[int, list[OrderRow]]:
        """The orders of many rounds, read in a few queries (not one per round)."""
        found: dict[int, list[OrderRow]] = {}
        missing = []
        for rid in round_ids:
            cached = None if self._live is None else self._live.orders_of(rid)
            if cached is None:
                missing.append(rid)
            found[rid] = cached or []
        for i in range(0, len(missing), 5000):  # well within any database's parameter limit
            chunk = missing[i : i + 5000]
            with self.session() as s:
                q = select(OrderRow).where(col(OrderRow.round_id).in_(chunk))
                wanted = set(chunk)
                pending = [o for o in self._intents(s) if o.round_id in wanted]
                for row in sorted([*s.exec(q), *pending], key=_order_id):
                    found[row.round_id].append(row)
            if self._live is not None:
                for rid in chunk:
                    self._live.load_orders(rid, found[rid])
        return found

    def order_by_client_id(self, venue: str, client_id: str) -> OrderRow | None:
        if self._live is not None:
            cached = self._live.order_by_client_id(venue, client_id)
            if cached is not None:
                return cached
        with self.session() as s:
            q = select(OrderRow).where(OrderRow.venue == venue, OrderRow.client_id == client_id)
            row = s.exec(q).first() or next(
                (o for o in self._intents(s) if (o.venue, o.client_id) == (venue, client_id)),
                None,
            )
        ours = self.scope
        return None if row is None or (ours and not ours(row.venue, row.symbol)) else row

    def live_orders(self) -> list[OrderRow]:
        """Every order not known to be finished, over all rounds (of this daemon's books)."""
        with self.session() as s:
            q = select(OrderRow).where(col(OrderRow.status).not_in(TERMINAL))
            rows = [*s.exec(q), *self._intents(s)]
        if (ours := self.scope) is not None:
            rows = [o for o in rows if ours(o.venue, o.symbol)]
        return sorted(rows, key=_order_id)

    @staticmethod
    def _intents(s: Session) -> list[OrderRow]:
        """The orders whose intent no answer has moved into `orders` yet: sent a moment ago,
        or left in flight by a daemon that died (a few rows at most)."""
        return [_intent_order(i, body) for i, body in s.execute(_PENDING_INTENTS)]

    def record_order(self, order_id: int, kind: str, **fields: Any) -> OrderRow:
        """Store what the venue said about an order (and journal it) if it changed anything."""
        if unknown := fields.keys() - set(_ANSWER_FIELDS):
            raise ValueError(f"not a field a venue answer sets: {sorted(unknown)}")
        row = self.get_order(order_id)
        changed = {k: v for k, v in fit(fields).items() if getattr(row, k) != v}
        if not changed:
            return row
        new = {f: getattr(row, f) for f in _ANSWER_FIELDS} | changed
        new["updated_at"] = utcnow()
        with self.engine.begin() as c:
            if c.execute(_TAKE_INTENT, {"oid": order_id}).first() is None:
                answer = {f"new_{k}": v for k, v in new.items()}
                c.execute(_UPDATE_ORDER, {"oid": order_id} | answer)
            else:  # its first answer: the order moves out of its intent, journaled now
                c.execute(_INSERT_ORDER, {f: getattr(row, f) for f in _ORDER_COLUMNS} | new)
                self._core_event(c, row.round_id, "intent", _order_detail(row))
            self._core_event(c, row.round_id, kind, {"order": row.id, **changed})
            self._fenced(c)
        for k, v in new.items():  # the committed values: a cached row stays exact
            setattr(row, k, v)
        self.order_writes += 1
        return row

    def record_state(self, order_id: int, state: OrderState) -> OrderRow:
        """What the venue says now. A stale answer (a stream event overtaken by a query,
        or the reverse) never moves an order back: finished stays finished, fills only grow."""
        row = self.get_order(order_id)
        if (row.terminal and not state.status.terminal) or state.filled_qty < row.filled_qty:
            return row
        return self.record_order(
            order_id,
            "order_state",
            status=state.status.value,
            venue_order_id=state.venue_order_id,
            filled_qty=state.filled_qty,
            avg_price=state.avg_price,
        )

    # -- fills --------------------------------------------------------------------------

    def add_fills(self, order: OrderRow, fills: Iterable[Fill]) -> int:
        """Record trades of an order; ones already known (same venue trade id) are skipped."""
        assert order.id is not None
        added = 0
        batch = list(fills)
        with self.session() as s:
            # Known by the unique key (venue, trade_id), whichever order it was recorded for.
            known = set(
                s.exec(
                    select(FillRow.trade_id).where(
                        FillRow.venue == order.venue,
                        col(FillRow.trade_id).in_({f.trade_id for f in batch}),
                    )
                )
            )
            for f in batch:
                if f.trade_id in known:
                    continue
                known.add(f.trade_id)  # the same trade twice in one batch
                s.add(
                    FillRow(
                        order_id=order.id,
                        round_id=order.round_id,
                        venue=order.venue,
                        trade_id=f.trade_id,
                        side=f.side.value,
                        qty=f.qty,
                        price=f.price,
                        fee=f.fee,
                        maker=f.maker,
                        at=f.at or utcnow(),
                    )
                )
                self._event(
                    s,
                    order.round_id,
                    "fill",
                    {
                        "order": order.id,
                        "trade": f.trade_id,
                        "qty": f.qty,
                        "price": f.price,
                        "fee": f.fee,
                    },
                )
                added += 1
            self._commit(s)
        return added

    def fills_of(self, round_id: int) -> list[FillRow]:
        with self.session() as s:
            q = select(FillRow).where(FillRow.round_id == round_id).order_by(col(FillRow.id))
            return list(s.exec(q))

    # -- funding ------------------------------------------------------------------------

    def add_funding(self, round_id: int, shares: Iterable[FundingShare]) -> int:
        """Record a round's shares of funding payments; a share already recorded (same venue,
        payment id and round) is skipped, so collecting the same history again adds nothing.
        Returns how many were added."""
        return self.add_funding_shares({round_id: shares})

    def add_funding_shares(self, by_round: Mapping[int, Iterable[FundingShare]]) -> int:
        """`add_funding` for several rounds in one transaction: every share of one payment
        split between rounds lands, or none does."""
        batches = {rid: list(shares) for rid, shares in by_round.items()}
        if not any(batches.values()):
            return 0
        added = 0
        with self.session() as s:
            for round_id, batch in batches.items():
                q = select(FundingRow.venue, FundingRow.payment_id).where(
                    FundingRow.round_id == round_id,
                    col(FundingRow.payment_id).in_({f.payment.payment_id for f in batch}),
                )
                known: set[tuple[str, str]] = {(v, p) for v, p in s.exec(q)}
                for share in batch:
                    p = share.payment
                    if (p.venue, p.payment_id) in known:
                        continue
                    known.add((p.venue, p.payment_id))
                    s.add(
                        FundingRow(
                            round_id=round_id,
                            venue=p.venue,
                            payment_id=p.payment_id,
                            symbol=p.symbol,
                            amount=share.amount,
                            share_qty=share.share_qty,
                            at=p.at,
                        )
                    )
                    detail = {
                        "venue": p.venue,
                        "payment": p.payment_id,
                        "symbol": p.symbol,
                        "amount": share.amount,
                        "of": p.amount,
                        "qty": share.share_qty,
                        "at": p.at.isoformat(),
                    }
                    self._event(s, round_id, "funding", detail)
                    added += 1
            self._commit(s)
        return added

    def known_funding(self, venue: str, payment_ids: Iterable[str]) -> set[str]:
        """Which of these payments of `venue` are stored (for any round)."""
        ids = list(dict.fromkeys(payment_ids))
        found: set[str] = set()
        for i in range(0, len(ids), 5000):  # well within any database's parameter limit
            with self.session() as s:
                q = select(FundingRow.payment_id).where(
                    FundingRow.venue == venue, col(FundingRow.payment_id).in_(ids[i : i + 5000])
                )
                found.update(s.exec(q))
        return found

    def funding_of(self, round_id: int) -> list[FundingRow]:
        """The round's funding shares, in settlement order."""
        with self.session() as s:
            q = select(FundingRow).where(FundingRow.round_id == round_id)
            rows = list(s.exec(q.order_by(col(FundingRow.at), col(FundingRow.id))))
        for row in rows:
            row.at = as_utc(row.at)
        return rows

    def funding_by_round(self, round_ids: Iterable[int]) -> dict[int, Decimal]:
        """Each round's funding total (+ received, - paid): every round asked for is in the
        answer, 0 where it has none. Summed here, not in SQL: the amounts are exact text."""
        ids = list(dict.fromkeys(round_ids))
        totals = {rid: Decimal(0) for rid in ids}
        for i in range(0, len(ids), 5000):  # well within any database's parameter limit
            chunk = ids[i : i + 5000]
            with self.session() as s:
                q = select(FundingRow).where(col(FundingRow.round_id).in_(chunk))
                for row in s.exec(q):
                    totals[row.round_id] += row.amount
        return totals

    def save_funding_info(self, venue: str, info: FundingInfo) -> None:
        """Keep the last funding rate and next settlement read from a venue for hedgectl."""
        row = {
            "venue": venue,
            "symbol": info.symbol,
            "rate": info.rate,
            "interval_hours": info.interval_hours,
            "next_at": info.next_at,
            "mark_price": info.mark_price,
            "at": utcnow(),
        }
        with self.engine.begin() as c:
            c.execute(_funding_rate_upsert(self.engine.dialect.name), row)
            self._fenced(c)

    def funding_rates(self) -> dict[tuple[str, str], FundingRateRow]:
        """The last funding rate saved per (venue, symbol)."""
        with self.session() as s:
            rows = list(s.exec(select(FundingRateRow)))
        for row in rows:
            row.next_at, row.at = as_utc(row.next_at), as_utc(row.at)
        return {(r.venue, r.symbol): r for r in rows}

    # -- commands -----------------------------------------------------------------------

    def add_command(self, kind: str, round_id: int | None = None) -> CommandRow:
        with self.session() as s:
            row = CommandRow(kind=kind, round_id=round_id)
            s.add(row)
            s.commit()  # hedgectl's request: it decides nothing until the leader applies it
            return row

    def any_pending_command(self) -> bool:
        """Whether a command waits (one indexed Core read: the loop asks 5 times a second)."""
        with self.engine.connect() as c:
            return c.execute(_ANY_PENDING).first() is not None

    def pending_commands(self) -> list[CommandRow]:
        with self.session() as s:
            q = (
                select(CommandRow)
                .where(CommandRow.status == "PENDING")
                .order_by(col(CommandRow.id))
            )
            return list(s.exec(q))

    def get_command(self, command_id: int) -> CommandRow | None:
        with self.session() as s:
            return s.get(CommandRow, command_id)

    def finish_command(self, command_id: int, ok: bool, result: str) -> None:
        with self.session() as s:
            row = s.get(CommandRow, command_id)
            assert row is not None
            row.status = "DONE" if ok else "FAILED"
            row.result = result[:512]
            row.applied_at = utcnow()
            self._event(
                s, row.round_id, "command", {"command": row.kind, "ok": ok, "result": result}
            )
            self._commit(s)

    # -- quotes -------------------------------------------------------------------------

    def save_quotes(self, quotes: Iterable[tuple[str, str, Decimal, Decimal]]) -> None:
        """Upserted by one Core statement per quote (every second: not an ORM merge)."""
        rows = [
            {"venue": v, "symbol": sym, "bid": bid, "ask": ask, "at": utcnow()}
            for v, sym, bid, ask in quotes
        ]
        if not rows:
            return
        upsert = _quote_upsert(self.engine.dialect.name)
        with self.engine.begin() as c:
            for row in rows:
                c.execute(upsert, row)
            self._fenced(c)

    def quotes(self) -> dict[tuple[str, str], QuoteRow]:
        with self.session() as s:
            return {(q.venue, q.symbol): q for q in s.exec(select(QuoteRow))}

    # -- read-only queries for hedgectl -------------------------------------------------

    def commands_of(self, round_id: int) -> list[CommandRow]:
        """Operator commands addressed to one round, oldest first, whatever their status."""
        with self.session() as s:
            q = select(CommandRow).where(CommandRow.round_id == round_id)
            return list(s.exec(q.order_by(col(CommandRow.id))))

    def finished_rounds(self, since: datetime | None = None) -> list[RoundRow]:
        """DONE rounds (ended at or after `since`, if given), in the order they ended."""
        with self.session() as s:
            q = select(RoundRow).where(RoundRow.state == "DONE")
            if since is not None:
                q = q.where(col(RoundRow.ended_at) >= since)
            return list(s.exec(q.order_by(col(RoundRow.ended_at), col(RoundRow.id))))

    def finished_costs(
        self, since: datetime | None = None
    ) -> tuple[list[TradeFigures], list[DecisionFigures]]:
        """The fills and the filled orders of the rounds `finished_rounds(since)` returns,
        what their costs are computed from (hedged.costs): plain rows in two queries, not
        ORM objects (10,000 rounds read in about a second, not seven)."""
        rounds = RoundRow.__table__  # type: ignore[attr-defined]
        fills = FillRow.__table__  # type: ignore[attr-defined]
        done = sa_select(rounds.c.id).where(rounds.c.state == "DONE")
        if since is not None:
            done = done.where(rounds.c.ended_at >= since)
        trades = sa_select(*(fills.c[f] for f in TradeFigures._fields))
        decisions = sa_select(*(_ORDERS.c[f] for f in DecisionFigures._fields))
        with self.engine.connect() as c:
            return (
                [
                    TradeFigures(*row)
                    for row in c.execute(
                        trades.where(fills.c.round_id.in_(done)).order_by(fills.c.id)
                    )
                ],
                [
                    DecisionFigures(*row)
                    for row in c.execute(
                        decisions.where(
                            _ORDERS.c.round_id.in_(done), _ORDERS.c.avg_price.is_not(None)
                        ).order_by(_ORDERS.c.id)
                    )
                ],
            )

    def last_quote_at(self) -> datetime | None:
        """When the daemon last saved a price: a sign of life while it runs."""
        with self.session() as s:
            return s.exec(select(func.max(QuoteRow.at))).one()


def _order_id(row: OrderRow) -> int:
    return row.id or 0


def _order_detail(row: OrderRow) -> dict[str, Any]:
    return {
        "order": row.id,
        "client_id": row.client_id,
        "venue": row.venue,
        "symbol": row.symbol,
        "purpose": row.purpose,
        "side": row.side,
        "type": row.type,
        "qty": row.qty,
        "price": row.price,
        "reduce_only": row.reduce_only,
        **({"post_only": True} if row.post_only else {}),
        **({"trigger_price": row.trigger_price} if row.trigger_price is not None else {}),
        **({"decided_at": row.decision_price} if row.decision_price is not None else {}),
    }


def utc_day_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
