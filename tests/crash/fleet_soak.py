"""Fleet soak: strike the daemons of a fleet sharing one PostgreSQL store any number of times.

    make fleet-soak N=200 DAEMONS=3 PAIRS=12 SEED=7
    PYTHONPATH=tests/crash:tests .venv/bin/python -m fleet_soak --strikes 200 --seed 7

The strikes (kill -9, SIGSTOP/SIGCONT, a daemon joining and leaving) are spread over runs of
`--per-run` strikes, each on a fresh simulator and a fresh database on 127.0.0.1:5432. Prints
the summary table (takeover and rebalancing times among it); exit status 0 when no invariant
was violated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from failover_soak import postgres_store, report_run, runs
from fleet import FleetResult, run_fleet, summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fleet_soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--strikes", type=int, default=200, help="strikes on the daemons (200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (1)")
    p.add_argument("--per-run", type=int, default=40, help="strikes per run (40)")
    p.add_argument("--daemons", type=int, default=3, help="daemons in the fleet (3)")
    p.add_argument("--pairs", type=int, default=12, help="pairs, one book each (12, at most 20)")
    p.add_argument("--lease-seconds", default="2", help="daemon.lease_seconds (2)")
    p.add_argument("--workdir", type=Path, help="keep logs and state here (default: temp)")
    args = p.parse_args(argv)
    if args.strikes < 1 or args.per_run < 1 or args.daemons < 1 or not 1 <= args.pairs <= 20:
        p.error("--strikes, --per-run and --daemons must be >= 1; --pairs 1 to 20")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hedged-fleet-"))
    results: list[FleetResult] = []
    for i, n, home in runs("fleet soak", args.strikes, args.per_run, workdir):
        url, drop = postgres_store()
        try:
            result = run_fleet(
                home,
                args.seed + i,
                n,
                url,
                daemons=args.daemons,
                pairs=args.pairs,
                lease_seconds=args.lease_seconds,
                wall_limit=1e9,
            )
        finally:
            drop()
        results.append(result)
        report_run(i, len(result.strikes), len(result.verdict.violations), result.wall)
    print(summary(results))
    return 0 if not any(r.verdict.violations for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
