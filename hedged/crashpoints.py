"""Named points where a test may kill the daemon (it may die between any two instructions;
these are the ones that matter most: docs/architecture.md#crash-points).

Armed only through `HEDGED_CRASH_AT=<name>[:<nth>]` (SIGKILL the process at the nth pass)
or `arm()` in tests; when nothing is armed a pass costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

POINTS = frozenset(
    {
        "after_intent_commit",  # intent durable, order not yet sent
        "after_send",  # venue answered, answer not yet stored
        "between_entry_legs",  # one entry leg answered, the other maybe not
        "after_stop_fill",  # losing leg closed, take-profit not yet placed
        "take_profit_resting",  # take-profit placed and stored
        "take_profit_repriced",  # a take-profit cancelled to re-price it, the next not yet sent
        "closing_after_cancel",  # CLOSING cancelled orders, market close not yet sent
        "inside_reconcile",  # orders resolved, positions not yet compared
    }
)


class SimulatedCrash(BaseException):
    """Raised by an armed point in tests: BaseException so no `except Exception` swallows it."""


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _raise() -> None:
    raise SimulatedCrash


_armed: dict[str, tuple[int, Callable[[], None]]] = {}


def arm(name: str, nth: int = 1, action: Callable[[], None] = _raise) -> None:
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}; known: {sorted(POINTS)}")
    _armed[name] = (nth, action)


def disarm() -> None:
    _armed.clear()


def crashpoint(name: str) -> None:
    armed = _armed.get(name)
    if armed is None:
        return
    nth, action = armed
    if nth > 1:
        _armed[name] = (nth - 1, action)
        return
    del _armed[name]
    action()


def arm_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    spec = environ.get("HEDGED_CRASH_AT")
    if spec:
        name, _, nth = spec.partition(":")
        arm(name, int(nth or 1), _sigkill)
