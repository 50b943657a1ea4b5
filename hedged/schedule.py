"""When rounds step (docs/architecture.md#which-rounds-are-due): which rounds are live,
which are due on the next pass whatever the prices, which the slow timer steps, the resting
rounds' deadlines, and the price levels at which a resting round acts.

The engine tells it what happened to a round (`track`, `wake`, `moved`, `rests`,
`restless`) and asks it which rounds to step now (`due_now`, `timer_due`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hedged.model import Quote
from hedged.triggers import Level, TriggerIndex


class Schedule:
    def __init__(self) -> None:
        self.live: set[int] = set()  # rounds in a live state
        self._due: set[int] = set()  # to step on the next pass, whatever the prices
        self._restless: set[int] = set()  # live rounds the slow timer steps (not resting)
        self._deadlines: dict[int, datetime] = {}  # resting rounds' time limits
        self._triggers = TriggerIndex()

    def __len__(self) -> int:
        return len(self.live)

    def __contains__(self, round_id: int) -> bool:
        return round_id in self.live

    def held(self, round_id: int) -> bool:
        """Whether anything of the round is still kept here (a finished round: nothing)."""
        return round_id in self.live or round_id in self._restless or round_id in self._deadlines

    # -- what happened to a round --------------------------------------------------------

    def track(self, round_id: int) -> None:
        """A live round (new, or found on taking the lease): stepped on the next pass."""
        self.live.add(round_id)
        self._due.add(round_id)

    def wake(self, round_id: int) -> None:
        """Step the round on the next pass (an order event, a command, its own orders)."""
        self._due.add(round_id)

    def moved(self, round_id: int, live: bool) -> None:
        """The round changed state: its levels and deadline belonged to the state it left.
        Still live, the timer steps it until its next step says it rests; finished, nothing
        of it stays behind (the daemon runs for weeks)."""
        self._triggers.discard(round_id)
        self._deadlines.pop(round_id, None)
        if live:
            self.live.add(round_id)
            self._restless.add(round_id)
        else:
            self.live.discard(round_id)
            self._restless.discard(round_id)

    def watch(self, round_id: int, levels: Iterable[Level]) -> None:
        """The prices at which the round would act, from the state it rests in."""
        self._triggers.watch(round_id, levels)

    def rests(self, round_id: int, deadline: datetime | None) -> None:
        """The round waits only on its watched prices and its deadline: off the timer."""
        self._restless.discard(round_id)
        if deadline is not None:
            self._deadlines[round_id] = deadline

    def restless(self, round_id: int) -> None:
        """The round is moving, backing off or could not be stepped: the timer steps it."""
        if round_id in self.live:
            self._restless.add(round_id)
            self._deadlines.pop(round_id, None)

    # -- which rounds step now -----------------------------------------------------------

    def due_now(self, touched: Iterable[Quote]) -> set[int]:
        """The live rounds due on this pass: those woken since the last, and those with a
        level that a price event since then reaches."""
        due, self._due = self._due, set()
        for quote in touched:
            due |= self._triggers.crossed(quote)
        if due:  # most passes: nothing, and no new set
            due &= self.live
        return due

    def timer_due(self, now: datetime) -> set[int]:
        """What the slow timer steps: rounds that are not resting, and those past their
        deadline."""
        past = {r for r, at in self._deadlines.items() if at <= now}
        return (self._restless | past) & self.live
