"""The round's lifecycle as one table, built with `transitions`
(docs/architecture.md#round-lifecycle; `python -m hedged.states.diagram` draws it).

Every (state, trigger) pair not listed here is refused with `InvalidTransition`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from transitions import Machine, MachineError


class State(StrEnum):
    OPENING = "OPENING"
    MONITORING = "MONITORING"
    LIMIT_SET = "LIMIT_SET"
    CLOSING = "CLOSING"
    DONE = "DONE"
    HALTED = "HALTED"


class Trigger(StrEnum):
    ENTRIES_FILLED = "entries_filled"  # both entry orders filled, quantities equal
    ENTRY_FAILED = "entry_failed"  # a leg rejected or cannot fill: flatten what did
    LEG_STOPPED = "leg_stopped"  # losing leg closed, take-profit resting on the other
    TIME_LIMIT = "time_limit"
    OPERATOR_CLOSE = "operator_close"
    SHUTDOWN_FLATTEN = "shutdown_flatten"
    TP_FILLED = "tp_filled"
    SECOND_STOP = "second_stop"  # the remaining leg's loss reached the stop
    UNPROTECTED = "unprotected"  # a leg's backstop was refused: close rather than run bare
    FLAT = "flat"  # both venues flat for this round, none of its orders open
    HALT = "halt"  # the venue shows what the daemon cannot explain
    RESUME = "resume"  # operator: go back to the state the round was halted in


S = State
LIVE = [S.OPENING, S.MONITORING, S.LIMIT_SET, S.CLOSING]
RESUMABLE = LIVE
ACTIVE = [*LIVE, S.HALTED]  # not finished: the rounds the daemon keeps and steps

# (trigger, sources, destination). Operator close and shutdown flatten also apply in
# OPENING: CLOSING flattens whatever filled, so it is safe from any live state.
TABLE: list[tuple[Trigger, list[State], State]] = [
    (Trigger.ENTRIES_FILLED, [S.OPENING], S.MONITORING),
    (Trigger.ENTRY_FAILED, [S.OPENING], S.CLOSING),
    (Trigger.LEG_STOPPED, [S.MONITORING], S.LIMIT_SET),
    (Trigger.TIME_LIMIT, [S.MONITORING, S.LIMIT_SET], S.CLOSING),
    (Trigger.OPERATOR_CLOSE, [S.OPENING, S.MONITORING, S.LIMIT_SET, S.HALTED], S.CLOSING),
    (Trigger.SHUTDOWN_FLATTEN, [S.OPENING, S.MONITORING, S.LIMIT_SET], S.CLOSING),
    (Trigger.TP_FILLED, [S.LIMIT_SET], S.CLOSING),
    (Trigger.SECOND_STOP, [S.LIMIT_SET], S.CLOSING),
    (Trigger.UNPROTECTED, [S.OPENING, S.MONITORING, S.LIMIT_SET], S.CLOSING),
    (Trigger.FLAT, [S.CLOSING], S.DONE),
    (Trigger.HALT, LIVE, S.HALTED),
] + [(Trigger.RESUME, [S.HALTED], dest) for dest in RESUMABLE]


class InvalidTransition(Exception):
    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"trigger {trigger!r} is not allowed in state {state}")
        self.state = state
        self.trigger = trigger


def _resumes_to(dest: State) -> Any:
    return lambda *, halted_from: halted_from == dest


class RoundMachine:
    """The lifecycle of one round, re-created from its persisted state string."""

    trigger: Any  # added by transitions.Machine

    def __init__(self, state: str, halted_from: str | None = None) -> None:
        self.state: str = State(state).value
        self.halted_from = halted_from
        self._machine = Machine(
            model=self,
            states=[s.value for s in State],
            initial=self.state,
            transitions=[
                {
                    "trigger": trigger.value,
                    "source": [s.value for s in sources],
                    "dest": dest.value,
                    **({"conditions": [_resumes_to(dest)]} if trigger is Trigger.RESUME else {}),
                }
                for trigger, sources, dest in TABLE
            ],
            auto_transitions=False,
            send_event=False,
        )

    def fire(self, trigger: Trigger) -> State:
        """Apply `trigger` and return the new state; refuse a pair not in the table."""
        source = self.state
        try:
            if trigger is Trigger.RESUME:
                moved = self.trigger(trigger.value, halted_from=self.halted_from)
            else:
                moved = self.trigger(trigger.value)
        except MachineError as e:
            raise InvalidTransition(source, trigger.value) from e
        if not moved:
            raise InvalidTransition(source, trigger.value)
        self.halted_from = source if self.state == State.HALTED else None
        return State(self.state)

    def allows(self, trigger: Trigger) -> bool:
        return trigger.value in self._machine.get_triggers(self.state)
