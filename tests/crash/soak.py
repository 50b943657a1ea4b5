"""Crash soak: kill -9 the daemon any number of times and print the summary table.

    make soak KILLS=1000 SEED=7
    PYTHONPATH=tests/crash .venv/bin/python -m soak --kills 1000 --seed 7

The kills are spread over campaigns of `--per-campaign` kills, each on a fresh simulator and
database (every named crash point in each, the rest at random moments in every round state),
`--parallel` of them at a time; the behind-the-back case runs once at the end. Exit status 0
when no invariant was violated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import CampaignResult, foreign_exposure, run_campaign, summary


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=200, help="total kills (200)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first campaign (1)")
    p.add_argument("--per-campaign", type=int, default=50, help="kills per campaign (50)")
    p.add_argument("--parallel", type=int, default=2, help="campaigns at a time (2)")
    p.add_argument(
        "--workdir", type=Path, help="keep logs, databases and venue state here (default: temp)"
    )
    p.add_argument(
        "--no-foreign", action="store_true", help="skip the position-behind-the-back case"
    )
    args = p.parse_args(argv)
    if args.kills < 1 or args.per_campaign < 1 or args.parallel < 1:
        p.error("--kills, --per-campaign and --parallel must be >= 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hedged-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = [args.per_campaign] * (args.kills // args.per_campaign)
    if args.kills % args.per_campaign:
        sizes.append(args.kills % args.per_campaign)
    started = time.monotonic()
    print(f"soak: {args.kills} kills in {len(sizes)} campaigns; logs in {workdir}", flush=True)

    def campaign(i: int) -> CampaignResult:
        # One round at a time (with backstops) and two at once (without) in turn, the short
        # on Aster or on Backpack every other pair of campaigns.
        concurrent = 1 + i % 2
        direction = ("aster_short", "backpack_short")[i // 2 % 2]
        result = run_campaign(
            workdir / f"campaign{i:03d}",
            args.seed + i,
            sizes[i],
            max_concurrent_rounds=concurrent,
            direction=direction,
        )
        print(
            f"campaign {i} (seed {result.seed}): {len(result.kills)} kills, "
            f"{result.verdict.rounds['DONE']} rounds done, "
            f"{len(result.verdict.violations)} violations, {result.wall:.0f}s",
            flush=True,
        )
        return result

    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(campaign, range(len(sizes))))
    print()
    print(summary(results))
    failed = any(r.verdict.violations for r in results)
    if not args.no_foreign:
        foreign = foreign_exposure(workdir / "foreign", args.seed)
        ok = bool(foreign.halted_reasons) and not foreign.verdict.violations
        ok = ok and foreign.rounds_after == foreign.rounds_before
        ok = ok and f"not opening rounds: {foreign.blocked}" in foreign.status
        print(
            f"\nposition behind the daemon's back: {'ok' if ok else 'FAILED'}: "
            f"{len(foreign.halted_reasons)} rounds HALTED "
            f"({foreign.halted_reasons[0] if foreign.halted_reasons else '-'}); "
            f"hedgectl: not opening rounds: {foreign.blocked}"
        )
        for v in foreign.verdict.violations:
            print(f"VIOLATION (foreign) {v}")
        failed = failed or not ok
    print(f"\nsoak took {time.monotonic() - started:.0f}s")
    if args.workdir is None and not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
