"""Every (state, trigger) pair: the listed ones move where the lifecycle table says
(docs/architecture.md#round-lifecycle), the rest are refused."""

from __future__ import annotations

import itertools

import pytest

from hedged.states.machine import InvalidTransition, RoundMachine, State, Trigger

S, T = State, Trigger

# Written out by hand from docs/architecture.md#round-lifecycle (not derived from the table
# under test).
EXPECTED: dict[tuple[State, Trigger], State] = {
    (S.OPENING, T.ENTRIES_FILLED): S.MONITORING,
    (S.OPENING, T.ENTRY_FAILED): S.CLOSING,
    (S.OPENING, T.OPERATOR_CLOSE): S.CLOSING,
    (S.OPENING, T.SHUTDOWN_FLATTEN): S.CLOSING,
    (S.OPENING, T.HALT): S.HALTED,
    (S.MONITORING, T.LEG_STOPPED): S.LIMIT_SET,
    (S.MONITORING, T.TIME_LIMIT): S.CLOSING,
    (S.MONITORING, T.OPERATOR_CLOSE): S.CLOSING,
    (S.MONITORING, T.SHUTDOWN_FLATTEN): S.CLOSING,
    (S.MONITORING, T.HALT): S.HALTED,
    (S.LIMIT_SET, T.TIME_LIMIT): S.CLOSING,
    (S.LIMIT_SET, T.OPERATOR_CLOSE): S.CLOSING,
    (S.LIMIT_SET, T.SHUTDOWN_FLATTEN): S.CLOSING,
    (S.LIMIT_SET, T.TP_FILLED): S.CLOSING,
    (S.LIMIT_SET, T.SECOND_STOP): S.CLOSING,
    (S.OPENING, T.UNPROTECTED): S.CLOSING,
    (S.MONITORING, T.UNPROTECTED): S.CLOSING,
    (S.LIMIT_SET, T.UNPROTECTED): S.CLOSING,
    (S.LIMIT_SET, T.HALT): S.HALTED,
    (S.CLOSING, T.FLAT): S.DONE,
    (S.CLOSING, T.HALT): S.HALTED,
    (S.HALTED, T.OPERATOR_CLOSE): S.CLOSING,
}
# RESUME depends on where the round was halted: covered by the tests below.
PAIRS = list(itertools.product(State, [t for t in Trigger if t is not T.RESUME]))


@pytest.mark.parametrize(("state", "trigger"), PAIRS, ids=[f"{s}-{t}" for s, t in PAIRS])
def test_every_state_trigger_pair(state: State, trigger: Trigger) -> None:
    machine = RoundMachine(state)
    if (state, trigger) in EXPECTED:
        assert machine.allows(trigger)
        assert machine.fire(trigger) is EXPECTED[(state, trigger)]
        assert machine.state == EXPECTED[(state, trigger)]
    else:
        assert not machine.allows(trigger)
        with pytest.raises(InvalidTransition, match=f"'{trigger}' is not allowed in state {state}"):
            machine.fire(trigger)
        assert machine.state == state  # a refused trigger changes nothing


@pytest.mark.parametrize("origin", [S.OPENING, S.MONITORING, S.LIMIT_SET, S.CLOSING])
def test_halt_remembers_where_and_resume_goes_back(origin: State) -> None:
    machine = RoundMachine(origin)
    assert machine.fire(T.HALT) is S.HALTED
    assert machine.halted_from == origin
    assert machine.fire(T.RESUME) is origin
    assert machine.halted_from is None


@pytest.mark.parametrize("state", [s for s in State if s is not S.HALTED])
def test_resume_is_refused_outside_halted(state: State) -> None:
    with pytest.raises(InvalidTransition):
        RoundMachine(state).fire(T.RESUME)


def test_resume_without_a_known_origin_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        RoundMachine("HALTED", halted_from=None).fire(T.RESUME)


def test_machine_is_recreated_from_the_persisted_state_string() -> None:
    assert RoundMachine("LIMIT_SET").fire(T.TP_FILLED) is S.CLOSING
    with pytest.raises(ValueError):
        RoundMachine("SOMEWHERE")
