"""What each state of the lifecycle does, beside the table that says where it may go
(docs/architecture.md#round-lifecycle): one entry per state the daemon steps; everything
else (which states are active, which rest on prices) is derived from here and the table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hedged.states import closing, halted, limit_set, monitoring, opening
from hedged.states.context import Move, RoundContext
from hedged.states.machine import State
from hedged.triggers import Level


@dataclass(frozen=True, slots=True)
class Behaviour:
    step: Callable[[RoundContext], Awaitable[Move | None]]
    # The prices a resting round watches (a state without: steps on every pass).
    watch: Callable[[RoundContext], list[Level]] | None = None
    # Whether it waits only on its watched prices, its deadline and (LIMIT_SET) its
    # take-profit: such a round is not stepped by the slow timer.
    resting: Callable[[RoundContext], bool] | None = None


BEHAVIOUR: dict[State, Behaviour] = {
    State.OPENING: Behaviour(opening.step),
    State.MONITORING: Behaviour(monitoring.step, monitoring.watch, monitoring.resting),
    State.LIMIT_SET: Behaviour(limit_set.step, limit_set.watch, limit_set.resting),
    State.CLOSING: Behaviour(closing.step),
    State.HALTED: Behaviour(halted.step),
}
