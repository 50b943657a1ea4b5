"""Run the benchmarks: `python -m bench [--quick] [--only a,b] [--no-profile]`.

Prints the figures as a table, writes every figure as JSON under bench/results/<stamp>/,
and after a full run also bench/latest.json and the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    budget,
    exits,
    history,
    machine,
    memory,
    pairs,
    reaction,
    recovery,
    report,
    scale,
    step,
)
from bench.rig import setup_logging

BENCH = Path(__file__).resolve().parent
SCENARIOS = (
    "reaction-v3",
    "reaction-v1",
    "step",
    "scale",
    "pairs",
    "recovery",
    "budget",
    "memory",
    "standby",
    "exits",
    "history",
)
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SIGMA = 12.0  # the price path's annual volatility, the paper default
SENSITIVITY = [(0.8, 0.005), (0.8, 0.1), (3.0, 0.005), (12.0, 0.005), (12.0, 0.1)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: small counts, short windows")
    p.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}"
    )
    p.add_argument("--no-profile", action="store_true", help="skip the pyinstrument profiles")
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="let the daemon and the simulators share all cores (default: the daemon has one "
        "to itself)",
    )
    p.add_argument(
        "--crossings",
        type=int,
        help="stop crossings per reaction run (1000; with 20 pairs streaming: 300)",
    )
    p.add_argument("--scale-rounds", help="comma list of open-round counts (100,1000,10000)")
    p.add_argument("--sigma", type=float, default=SIGMA, help="annual volatility of the path")
    p.add_argument("--dt", type=float, default=0.005, help="seconds between price events")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--exit-rounds", type=int, help="rounds per configuration in the exits scenario (80)"
    )
    p.add_argument("--results", type=Path, help="directory for this run's files")
    p.add_argument(
        "--merge",
        action="store_true",
        help="replace only this run's scenarios in bench/latest.json (and the README table)",
    )
    p.add_argument(
        "--write-latest",
        action="store_true",
        help="write bench/latest.json and the README table even for a partial or quick run",
    )
    return p


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def scenario(results: dict[str, Any], key: str, run: Callable[[], Awaitable[Any]]) -> Any:
    t0 = time.monotonic()
    cpu0 = machine.cpu_times()
    load0 = os.getloadavg()[0]
    say(f"[bench] {key} ...")
    try:
        value = await run()
    except Exception as e:  # one scenario's failure must not lose the others' figures
        traceback.print_exc()
        value = {"error": f"{type(e).__name__}: {e}"}
    took = time.monotonic() - t0
    busy = machine.busy_share(cpu0, machine.cpu_times())
    say(f"[bench] {key} done in {took:.0f} s (machine {100 * (busy or 0):.0f} % busy)")
    results.setdefault("durations_s", {})[key] = took
    results.setdefault("machine_busy", {})[key] = {
        "all_cores_busy_share": busy,
        "load_average_1min_before": load0,
        "load_average_1min_after": os.getloadavg()[0],
    }
    return value


async def main(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if quick else "")
    out = args.results or BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out / "engine.log")
    profile = not args.no_profile and not quick and _has_pyinstrument()
    if not args.no_pin:
        machine.pin_roles()
    results: dict[str, Any] = {
        "machine": machine.describe(out),
        "quick": quick,
        "scenarios": {},
        "results_dir": str(out),
    }
    scen = results["scenarios"]
    crossings = args.crossings or (100 if quick else 1000)
    common = Common(args.sigma, args.dt, 8, args.seed)

    if "reaction-v3" in only:
        scen["reaction_v3"] = await scenario(
            results,
            "reaction-v3",
            lambda: reaction.run(
                out / "reaction-v3",
                auth="v3",
                crossings=crossings if not quick else 30,
                time_cap=30 if quick else 600,
                sensitivity_cells=SENSITIVITY[:2] if quick else SENSITIVITY,
                sensitivity_n=100 if quick else 300,
                **common.path(),
            ),
        )
    if "reaction-v1" in only:
        scen["reaction_v1"] = await scenario(
            results,
            "reaction-v1",
            lambda: reaction.run(
                out / "reaction-v1",
                auth="v1",
                crossings=crossings,
                time_cap=60 if quick else 600,
                **common.path(),
            ),
        )
    if "step" in only:
        scen["step"] = await scenario(
            results, "step", lambda: step.run(out / "step", samples=100 if quick else 1000)
        )
    if "scale" in only:
        counts = [
            int(x)
            for x in (args.scale_rounds or ("100,1000" if quick else "100,1000,10000")).split(",")
        ]
        scen["scale"] = []
        for n in counts:
            window = 5.0 if quick else (10.0 if n >= 10_000 else 20.0)
            scen["scale"].append(
                await scenario(
                    results,
                    f"scale-{n}",
                    functools.partial(
                        scale.run,
                        out / f"scale-{n}",
                        rounds=n,
                        rate=200.0,
                        seconds=window,
                        seed=args.seed,
                        profile=out / f"profile-scale-{n}.txt" if profile and n == 1000 else None,
                    ),
                )
            )
    if "pairs" in only:
        scen["pairs"] = []
        for n in (1, 5, 20):
            scen["pairs"].append(
                await scenario(
                    results,
                    f"pairs-{n}",
                    functools.partial(
                        pairs.run,
                        out / f"pairs-{n}",
                        pairs=n,
                        rate=50.0 if quick else 200.0,
                        seconds=5.0 if quick else 20.0,
                        seed=args.seed,
                        profile=out / "profile-pairs-20.txt" if profile and n == 20 else None,
                    ),
                )
            )
        scen["pairs_reaction"] = await scenario(
            results,
            "pairs-20-reaction",
            lambda: pairs.stop_reaction(
                out / "pairs-20-reaction",
                pairs=20,
                crossings=args.crossings or (30 if quick else 300),
                time_cap=60 if quick else 300,
                **common.path(),
            ),
        )
    if "recovery" in only:
        scen["recovery"] = []
        for n in [100] if quick else [100, 1000]:
            scen["recovery"].append(
                await scenario(
                    results,
                    f"recovery-{n}",
                    functools.partial(recovery.run, out / f"recovery-{n}", rounds=n, timeout=150.0),
                )
            )
    if "budget" in only:
        scen["budget"] = await scenario(
            results,
            "budget",
            lambda: budget.run(
                out / "budget",
                rounds=10,
                rate=10.0,
                seconds=15.0 if quick else 60.0,
                warmup=2.0,
                seed=args.seed,
            ),
        )
    if "memory" in only:
        scen["memory"] = await scenario(
            results,
            "memory",
            lambda: memory.run(
                out / "memory",
                checkpoints=[30, 300] if quick else [100, 2000],
                time_cap=90 if quick else 720,  # 2,000 rounds took 440-480 s
            ),
        )
    if "history" in only:
        n = 1_000 if quick else 10_000
        scen["history"] = await scenario(
            results, "history", lambda: history.run(out / "history", rounds=n)
        )
    if "standby" in only:
        scen["standby"] = []
        for store in ("sqlite", "postgres"):
            for beside in (False, True):
                key = f"standby-{store}-{'with' if beside else 'without'}"
                scen["standby"].append(
                    await scenario(
                        results,
                        key,
                        functools.partial(
                            _reaction_on,
                            out / key,
                            store,
                            beside,
                            crossings=30 if quick else 300,
                            time_cap=60 if quick else 300,
                            **common.path(),
                        ),
                    )
                )
    if "exits" in only:
        # Kept beside the default path's figures when run with another volatility.
        key = "exits" if args.sigma == SIGMA else f"exits_sigma{args.sigma:g}"
        scen[key] = await scenario(
            results,
            key,
            lambda: exits.run(
                out / "exits",
                rounds=args.exit_rounds or (6 if quick else 80),
                sigma=args.sigma,
                dt=0.05,
                seed=args.seed,
                time_cap=120 if quick else 1500,
            ),
        )
    if profile and "reaction-v3" in only:
        results["profiles"] = {
            "reaction-v3": await scenario(
                results,
                "profile reaction-v3",
                lambda: _profiled_reaction(out, common),
            )
        }
    if profile and "scale" in only:
        results.setdefault("profiles", {})["scale-1000"] = str(out / "profile-scale-1000.txt")

    results["load_average_end"] = os.getloadavg()
    code = machine.code_fingerprint()
    before = results["machine"]["code"]["per_file"]
    results["code_changed"] = sorted(
        f for f in set(before) | set(code["per_file"]) if before.get(f) != code["per_file"].get(f)
    )
    results["code_at_end"] = code
    return results


async def _reaction_on(out: Path, store: str, standby: bool, **kwargs: Any) -> dict[str, Any]:
    """The stop reaction (Aster V1) on a fresh SQLite file or PostgreSQL database, with or
    without a standby daemon on the same store."""
    if store == "sqlite":
        figures = await reaction.run(out, auth="v1", standby=standby, **kwargs)
    else:
        import psycopg

        name = f"hedged_bench_{os.getpid()}_{int(time.time())}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
            figures = await reaction.run(out, auth="v1", standby=standby, store_url=url, **kwargs)
        finally:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"store": store, "standby": standby, **figures}


async def _profiled_reaction(out: Path, common: Common) -> str:
    path = out / "profile-reaction-v3.txt"
    await reaction.run(
        out / "reaction-v3-profiled",
        auth="v3",
        crossings=60,
        time_cap=60,
        profile=path,
        **common.path(),
    )
    return str(path)


@dataclass(frozen=True)
class Common:
    """The price-path model shared by the reaction runs."""

    sigma: float
    dt: float
    lead: int
    seed: int

    def path(self) -> dict[str, Any]:
        """As keyword arguments of `reaction.run`."""
        return {"sigma": self.sigma, "dt": self.dt, "lead": self.lead, "seed": self.seed}


def _has_pyinstrument() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        say("[bench] no pyinstrument, no profiles: .venv/bin/pip install pyinstrument")
        return False
    return True


def entry() -> None:
    args = parser().parse_args()
    results = asyncio.run(main(args))
    out = Path(results["results_dir"])
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    full = not args.quick and set(args.only.split(",")) >= set(SCENARIOS)
    latest = BENCH / "latest.json"
    if args.merge and latest.exists():
        merged = json.loads(latest.read_text())
        merged["scenarios"].update(results["scenarios"])
        merged.setdefault("machine_busy", {}).update(results.get("machine_busy", {}))
        merged.setdefault("merged", []).append(
            {
                "scenarios": sorted(results["scenarios"]),
                "machine": results["machine"],
                "load_average_end": results.get("load_average_end"),
                "code_changed": results.get("code_changed"),
                "results_dir": results["results_dir"],
            }
        )
        latest.write_text(json.dumps(merged, indent=1, default=str))
        report.update_readme(BENCH / "README.md", merged)
        results = merged
    elif full or args.write_latest:
        latest.write_text(json.dumps(results, indent=1, default=str))
        report.update_readme(BENCH / "README.md", results)
    print(report.text(results))
    print(f"figures: {out / 'results.json'}")


if __name__ == "__main__":
    entry()
