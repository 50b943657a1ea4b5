"""Percentiles and small summaries (nearest-rank, no interpolation: a p99 is a sample)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Iterable[float], scale: float = 1.0) -> dict[str, float | int]:
    """n, mean, p50, p90, p99, max of `values` times `scale` (e.g. 1000 for ms)."""
    xs = [v * scale for v in values]
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "mean": sum(xs) / len(xs),
        "p50": pct(xs, 50),
        "p90": pct(xs, 90),
        "p99": pct(xs, 99),
        "max": max(xs),
    }
