"""The schedule: which live rounds a pass steps, on what (woken, a price level reached, the
slow timer), and that a finished round leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hedged.legs import Leg
from hedged.model import Quote, Side
from hedged.schedule import Schedule
from hedged.store import utcnow
from hedged.triggers import Level, stop_level

D = Decimal


def quote(bid: str, ask: str) -> Quote:
    return Quote("aster", "SYM", D(bid), D(ask), 0.0)


def short_stop() -> list[Level]:
    return [stop_level(Leg("aster", "SYM", Side.SELL, D(1), D(1), D(100)), D("0.01"))]


def test_a_tracked_round_is_due_once_then_on_its_levels_only() -> None:
    s = Schedule()
    s.track(1)
    assert s.due_now([]) == {1} and s.due_now([]) == set()
    s.watch(1, short_stop())  # ask >= 101
    s.rests(1, None)
    assert s.due_now([quote("100", "100.5")]) == set()
    assert s.due_now([quote("100.9", "101")]) == {1}
    assert s.timer_due(utcnow()) == set()  # resting: the timer leaves it alone


def test_the_timer_steps_restless_rounds_and_those_past_their_deadline() -> None:
    s = Schedule()
    for r in (1, 2, 3):
        s.track(r)
    s.due_now([])
    s.moved(1, live=True)  # moving: restless until a step says it rests
    now = utcnow()
    s.rests(2, now - timedelta(seconds=1))  # past its deadline
    s.rests(3, now + timedelta(hours=1))
    assert s.timer_due(now) == {1, 2}
    s.wake(3)
    assert s.due_now([]) == {3}


def test_a_finished_round_leaves_nothing_and_is_never_due() -> None:
    s = Schedule()
    s.track(1)
    s.watch(1, short_stop())
    s.rests(1, utcnow())
    s.moved(1, live=False)
    s.wake(1)  # an order event after it finished
    assert not s.held(1) and 1 not in s and len(s) == 0
    assert s.due_now([quote("200", "200")]) == set() and s.timer_due(utcnow()) == set()
