"""`hedgectl` only reads: the store opened read-only writes and creates nothing — no table, no
namespace, no -wal/-shm file — and an empty or foreign database is refused, on both backends."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import closing, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hedged import ctl
from hedged.config import EX_CONFIG
from hedged.store import NotHedgedDatabase, SchemaTooNew, SchemaTooOld, Store

READS = [["status"], ["show", "1"], ["history"], ["halted"], ["watch", "--once"]]
STEERS = [["pause"], ["resume"], ["resume", "1"], ["close", "1"], ["flatten"]]


def run_ctl(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ctl.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def tables(url: str) -> set[str]:
    """The database's tables, read without hedged's store (a plain read creates nothing)."""
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return (
        Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
    )


def files(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time: what a writer, or a -wal/-shm, would change."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


@pytest.fixture
def written(store_url: str) -> Iterator[str]:
    """A database the store wrote: one round, one queued command; the writer closed."""
    store = Store(store_url)
    store.create_round("SOLUSDT", "SOL_USDC_PERP")
    store.add_command("pause")
    store.close()
    yield store_url


def test_a_readonly_store_reads_and_cannot_write(written: str) -> None:
    writer = Store(written)
    namespace = writer.namespace
    writer.close()
    before = tables(written)
    reader = Store(written, readonly=True)
    try:
        assert reader.count_rounds() == 1 and reader.namespace == namespace
        assert [c.kind for c in reader.pending_commands()] == ["pause"]
        with pytest.raises(SQLAlchemyError):
            reader.set_meta("written_by_a_reader", "1")
        with pytest.raises(SQLAlchemyError):
            reader.add_command("flatten")
    finally:
        reader.close()
    check = Store(written, readonly=True)
    try:
        assert check.get_meta("written_by_a_reader") is None
        assert [c.kind for c in check.pending_commands()] == ["pause"]
    finally:
        check.close()
    assert tables(written) == before


@pytest.mark.parametrize("foreign", [False, True], ids=["empty", "foreign"])
def test_an_empty_or_foreign_database_is_refused_and_nothing_created(
    store_url: str, foreign: bool
) -> None:
    path = sqlite_path(store_url)
    if path is not None:
        path.touch()
    if foreign:
        engine = create_engine(store_url)
        with engine.begin() as c:
            c.execute(text("CREATE TABLE inventory (item VARCHAR(20))"))
            c.execute(text("INSERT INTO inventory VALUES ('apples')"))
        engine.dispose()
    before = tables(store_url)
    content = None if path is None else files(path.parent)
    for argv in READS + [[*steer, "--timeout", "0"] for steer in STEERS]:
        code, out, err = run_ctl(*argv, "--db", store_url)
        assert code == EX_CONFIG, (argv, err)
        assert "not a hedged database" in err and "Traceback" not in err, (argv, err)
        assert out == ""
    assert tables(store_url) == before == ({"inventory"} if foreign else set())
    if path is not None:
        assert content is not None and files(path.parent) == content
        assert foreign or path.stat().st_size == 0  # an empty file stays empty


def test_schema_newer_or_older_than_this_hedgectl(written: str) -> None:
    for version, error, word in [("99", SchemaTooNew, "newer"), ("0", SchemaTooOld, "older")]:
        engine = create_engine(written)
        with engine.begin() as c:
            c.execute(
                text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": version}
            )
        engine.dispose()
        with pytest.raises(error):
            Store(written, readonly=True)
        code, _, err = run_ctl("status", "--db", written)
        assert code == EX_CONFIG and word in err and "Traceback" not in err


def test_sqlite_files_that_are_no_hedged_database(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database\n")
    for url, needle in [
        (f"sqlite:///{tmp_path}", "is a directory"),
        ("sqlite:////dev/null", "not a regular file"),
        (f"sqlite:///{garbage}", "not an SQLite file"),
        ("sqlite://", "in-memory"),
    ]:
        with pytest.raises(NotHedgedDatabase):
            Store(url, readonly=True)
        for argv in (["status"], ["pause", "--timeout", "0"]):
            code, _, err = run_ctl(*argv, "--db", url)
            assert code == EX_CONFIG and needle in err, (url, argv, err)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    missing = tmp_path / "none.db"
    code, _, err = run_ctl("status", "--db", f"sqlite:///{missing}")
    assert code == ctl.EXIT_NOT_FOUND and "no database at" in err and not missing.exists()
    code, _, err = run_ctl("status", "--db", "mysql://u:pw@127.0.0.1/x")
    assert code == EX_CONFIG and "unsupported database" in err and "pw" not in err


def test_a_reader_sees_what_a_daemon_opened_later_commits(tmp_path: Path) -> None:
    """No daemon at first (the file read as is), then one starts: the same reader (`watch`)
    sees its commits, still in the WAL."""
    url = f"sqlite:///{tmp_path / 'hedged.db'}"
    Store(url).close()
    reader = Store(url, readonly=True)
    try:
        assert reader.count_rounds() == 0
        assert not (tmp_path / "hedged.db-wal").exists()
        daemon = Store(url)
        try:
            daemon.create_round("SOLUSDT", "SOL_USDC_PERP")
            assert reader.count_rounds() == 1
        finally:
            daemon.close()
    finally:
        reader.close()


def test_a_database_out_of_wal_mode_reads_and_stays_unchanged(tmp_path: Path) -> None:
    """A hedged database copied out of WAL mode (e.g. by `sqlite3 .backup` into a new file
    with the default journal) still reads, and stays unchanged."""
    url = f"sqlite:///{tmp_path / 'hedged.db'}"
    Store(url).close()
    with closing(sqlite3.connect(tmp_path / "hedged.db")) as c:
        c.execute("PRAGMA journal_mode=DELETE")
    before = files(tmp_path)
    code, out, err = run_ctl("status", "--db", url)
    assert code == 0 and "no rounds yet" in out, err
    assert files(tmp_path) == before
