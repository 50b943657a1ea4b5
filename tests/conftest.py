"""Shared fixtures: a store on each backend (a SQLite file, a fresh PostgreSQL database);
every test in English unless it chooses Chinese itself."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from hedged import funding, i18n
from hedged.store import Store

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(autouse=True)
def short_settlement_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulators book a settlement before any later trade: a round closing within the
    venues' 10-s booking lag after one (Backpack settles on every hour) would otherwise wait
    that out, longer than a scenario's bounded ticks (a CI run at 13:00 UTC failed so)."""
    monkeypatch.setattr(funding, "SETTLEMENT_LAG", timedelta(seconds=0.2))


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The suite's assertions are in English whatever the locale it runs in; a test that
    switches to Chinese (in process) leaves English behind it."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    i18n.use("en")
    yield
    i18n.use("en")


# Why PostgreSQL could not be reached, once per session: a dead server costs one timeout.
_pg_unreachable: list[str] = []


def _pg_admin() -> psycopg.Connection[tuple[object, ...]] | None:
    """An autocommit connection to the server's maintenance database, or None (reason kept)."""
    if _pg_unreachable:
        return None
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as e:
        detail = " ".join(str(e).split())  # psycopg spreads its message over lines
        _pg_unreachable.append(f"PostgreSQL not reachable on 127.0.0.1:5432: {detail}")
        return None


def _no_postgres() -> None:
    reason = _pg_unreachable[0]
    if os.environ.get("HEDGED_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} (HEDGED_REQUIRE_POSTGRES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a file under tmp_path, or a new database on the server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hedged.db'}"
        return
    admin = _pg_admin()
    if admin is None:
        _no_postgres()
        return
    name = f"hedged_t_{secrets.token_hex(8)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.format(name=name)
    finally:
        # Stores opened by the test are closed by now (open_store tears down first);
        # FORCE ends any connection a test leaked.
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=2) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[[], Store]]:
    """Open another Store on the test's database; every one is closed at teardown."""
    opened: list[Store] = []

    def open_() -> Store:
        store = Store(store_url)
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()
