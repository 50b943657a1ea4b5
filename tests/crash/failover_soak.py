"""Failover soak: strike the leader of two daemons on one store any number of times.

    make failover-soak N=300 SEED=7
    PYTHONPATH=tests/crash .venv/bin/python -m failover_soak --failovers 300 --seed 7

The strikes are spread over runs of `--per-run` strikes, each on a fresh simulator and a
fresh database (PostgreSQL on 127.0.0.1:5432 by default, or SQLite), the first of each run
every kind of strike in every round state, the rest at random. Prints the summary table
(takeover p50/p99 among it); exit status 0 when no invariant was violated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psycopg
from failover import PG_ADMIN_DSN, FailoverResult, run_failovers, summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="failover_soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--failovers", type=int, default=300, help="strikes on the leader (300)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (1)")
    p.add_argument("--per-run", type=int, default=50, help="strikes per run (50)")
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--lease-seconds", default="3", help="daemon.lease_seconds (3)")
    p.add_argument("--workdir", type=Path, help="keep logs and state here (default: temp)")
    args = p.parse_args(argv)
    if args.failovers < 1 or args.per_run < 1:
        p.error("--failovers and --per-run must be >= 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hedged-failover-"))
    results: list[FailoverResult] = []
    for i, n, home in runs("failover soak", args.failovers, args.per_run, workdir):
        url, drop = _store(args.store, home)
        try:
            result = run_failovers(
                home, args.seed + i, n, url, lease_seconds=args.lease_seconds, wall_limit=1e9
            )
        finally:
            drop()
        results.append(result)
        report_run(i, len(result.strikes), len(result.verdict.violations), result.wall)
    print(summary(results))
    return 0 if not any(r.verdict.violations for r in results) else 1


def runs(what: str, strikes: int, per_run: int, workdir: Path) -> Iterator[tuple[int, int, Path]]:
    """`strikes` spread over runs of `per_run`: (run number, its strikes, its directory)."""
    sizes = [per_run] * (strikes // per_run) + ([strikes % per_run] if strikes % per_run else [])
    print(f"{what}: {strikes} strikes in {len(sizes)} runs; logs in {workdir}")
    for i, n in enumerate(sizes):
        home = workdir / f"run{i:03d}"
        home.mkdir(parents=True, exist_ok=True)
        yield i, n, home


def report_run(i: int, strikes: int, violations: int, wall: float) -> None:
    print(f"run {i}: {strikes} strikes, {violations} violations, {wall:.0f}s", flush=True)


def _store(kind: str, home: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{home / 'shared.db'}", lambda: None
    return postgres_store()


def postgres_store() -> tuple[str, Callable[[], None]]:
    """A new database on 127.0.0.1:5432, and how to drop it."""
    name = f"hedged_soak_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


if __name__ == "__main__":
    sys.exit(main())
