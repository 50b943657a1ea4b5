"""Per-round step tasks: rounds step side by side, one round never twice at once."""

from __future__ import annotations

import asyncio

import pytest

from hedged.crashpoints import SimulatedCrash
from hedged.stepper import Stepper


class Steps:
    """A step function whose calls wait until the test lets them finish."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.running: set[int] = set()
        self.overlaps = 0
        self.gates: dict[int, asyncio.Event] = {}
        self.fail: dict[int, BaseException] = {}

    async def __call__(self, round_id: int, poll_due: bool) -> None:
        if round_id in self.running:
            self.overlaps += 1
        self.running.add(round_id)
        self.calls.append((round_id, poll_due))
        try:
            await self.gates.setdefault(round_id, asyncio.Event()).wait()
            if round_id in self.fail:
                raise self.fail[round_id]
        finally:
            self.running.discard(round_id)

    def release(self, round_id: int) -> None:
        self.gates.setdefault(round_id, asyncio.Event()).set()


async def test_a_slow_round_does_not_hold_back_another() -> None:
    steps = Steps()
    stepper = Stepper(steps, lambda: None)
    stepper.launch(1, False)
    stepper.launch(2, False)
    steps.release(2)
    await asyncio.sleep(0.01)
    assert steps.running == {1}  # round 2 finished while round 1 still waits
    assert len(stepper) == 1
    steps.release(1)
    await stepper.settled()
    assert len(stepper) == 0


async def test_a_round_due_while_stepping_steps_once_more_afterwards() -> None:
    steps = Steps()
    stepper = Stepper(steps, lambda: None)
    stepper.launch(1, False)
    await asyncio.sleep(0)
    stepper.launch(1, False)
    stepper.launch(1, True)  # asked twice: one more step, with the timer's flag
    steps.release(1)
    await stepper.settled()
    assert steps.calls == [(1, False), (1, True)]
    assert steps.overlaps == 0


async def test_a_crashing_step_cancels_the_others_and_raises() -> None:
    woke: list[bool] = []
    steps = Steps()
    stepper = Stepper(steps, lambda: woke.append(True))
    steps.fail[1] = SimulatedCrash()
    stepper.launch(1, False)
    stepper.launch(2, False)  # never released: cancelled as if the process died
    steps.release(1)
    with pytest.raises(SimulatedCrash):
        await stepper.settled()
    assert woke == [True]
    assert len(stepper) == 0
    await stepper.raise_failure()  # raised once only


async def test_a_step_raising_a_bug_is_logged_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = Steps()
    stepper = Stepper(steps, lambda: None)
    steps.fail[1] = RuntimeError("bug in a step")
    stepper.launch(1, False)
    stepper.launch(2, False)
    steps.release(1)
    await asyncio.sleep(0.01)
    assert steps.running == {2}  # round 2 still stepping, not cancelled
    steps.release(2)
    await stepper.settled()  # raises nothing
    assert steps.calls == [(1, False), (2, False)]
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "round 1 failed" in record.getMessage() and record.exc_info is not None


async def test_settled_gives_up_after_its_timeout() -> None:
    steps = Steps()
    stepper = Stepper(steps, lambda: None)
    stepper.launch(1, False)
    await stepper.settled(timeout=0.05)
    assert len(stepper) == 1  # still running: the caller decides (stop() cancels it)
    await stepper.cancel()
    assert len(stepper) == 0


async def test_a_move_of_books_waits_for_the_steps_but_not_for_the_jobs_beside_them() -> None:
    steps = Steps()
    stepper = Stepper(steps, lambda: None)
    job_done = asyncio.Event()

    async def job() -> None:
        await job_done.wait()

    stepper.spawn("funding", job())
    stepper.launch(1, False)
    await asyncio.sleep(0)
    waiting = asyncio.create_task(stepper.settled(jobs=False))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # round 1's step still runs
    steps.release(1)
    await asyncio.wait_for(waiting, 1)  # the job still runs: not waited for
    assert len(stepper) == 1
    everything = asyncio.create_task(stepper.settled())
    await asyncio.sleep(0.01)
    assert not everything.done()
    job_done.set()
    await asyncio.wait_for(everything, 1)
    assert len(stepper) == 0


async def test_a_job_ending_on_an_expected_error_is_a_warning_not_a_bug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Moved(Exception):
        pass

    async def job(error: Exception) -> None:
        raise error

    stepper = Stepper(Steps(), lambda: None, (Moved,))
    stepper.spawn("funding", job(Moved("lease of a book is at epoch 9, not our epoch 8")))
    stepper.spawn("quotes", job(KeyError("a bug")))
    await stepper.settled()
    moved, bug = (r for r in caplog.records if r.name == "hedged.stepper")
    assert moved.levelname == "WARNING" and moved.exc_info is None
    assert "funding stopped (lease of a book is at epoch 9" in moved.getMessage()
    assert bug.levelname == "ERROR" and bug.exc_info is not None
