"""Funding as the perpetual venues pay it: a rate per symbol, settled on the venue's schedule
(boundaries of the interval since the epoch, as 00:00/08:00/16:00 UTC for 8 h), each open
position paying or receiving qty x mark x rate. A positive rate: longs pay shorts."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

HOUR = 3600.0
RATE_QUANTUM = Decimal("0.00000001")  # rates are quoted to 8 decimals on both venues


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One settlement of a symbol: the rate applied and the mark it was applied at."""

    symbol: str
    rate: Decimal
    mark: Decimal
    at: float


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """What one account's position paid (< 0) or received (> 0) at one settlement."""

    payment_id: int
    account: str
    symbol: str
    qty: Decimal  # the position, signed
    mark: Decimal
    rate: Decimal
    amount: Decimal
    at: float


def payment_amount(qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal:
    """The signed amount a position of `qty` gets: a long pays when the rate is positive."""
    return -qty * mark * rate


@dataclass(frozen=True, slots=True)
class FundingPlan:
    """How one venue funds its symbols: the interval (hours, per symbol where it differs),
    a base rate per interval, and the seeded spread of each settlement's rate around it."""

    interval_hours: Decimal
    base_rate: Decimal
    jitter: Decimal = Decimal(0)  # each rate is base ± up to this, drawn from the seed
    seed: int = 1
    intervals: Mapping[str, Decimal] | None = None  # symbol -> hours, where not the default

    def hours(self, symbol: str) -> Decimal:
        return (self.intervals or {}).get(symbol, self.interval_hours)


RateSource = Callable[[], Decimal | None]  # an 8-hour rate (a price CSV's column), or None
RATE_HOURS = Decimal(8)


class FundingSchedule:
    """When each symbol of one venue settles next and at which rate (the predicted rate the
    venue shows until then): `source`'s 8-hour rate scaled to the interval when it gives one,
    else the plan's seeded draw."""

    def __init__(
        self, plan: FundingPlan, clock: Callable[[], float], source: RateSource | None = None
    ) -> None:
        self.plan = plan
        self._clock = clock
        self._source = source
        self._random = random.Random(plan.seed)
        self._rates: dict[str, Decimal] = {}
        self._next: dict[str, float] = {}
        self._fixed: dict[str, Decimal] = {}  # set through the admin API: every settlement's

    def fix(self, symbol: str, rate: Decimal | None) -> None:
        """Every settlement of `symbol` from now on applies `rate` (None: back to the plan)."""
        if rate is None:
            self._fixed.pop(symbol, None)
        else:
            self._fixed[symbol] = rate

    def interval_seconds(self, symbol: str) -> float:
        return float(self.plan.hours(symbol)) * HOUR

    def rate(self, symbol: str) -> Decimal:
        """The rate the next settlement of `symbol` will apply."""
        if symbol in self._fixed:
            return self._fixed[symbol]
        given = self._source() if self._source is not None else None
        if given is not None:
            return (given * self.plan.hours(symbol) / RATE_HOURS).quantize(RATE_QUANTUM)
        if symbol not in self._rates:
            self._rates[symbol] = self._draw()
        return self._rates[symbol]

    def next_time(self, symbol: str) -> float:
        """The next settlement (seconds since the epoch) strictly after the first look."""
        if symbol not in self._next:
            interval = self.interval_seconds(symbol)
            self._next[symbol] = (self._clock() // interval + 1) * interval
        return self._next[symbol]

    def due(self, symbol: str) -> list[tuple[float, Decimal]]:
        """The settlements (time, rate) that are due now, oldest first; each is then past."""
        now, settled = self._clock(), []
        while self.next_time(symbol) <= now:
            settled.append((self._next[symbol], self.rate(symbol)))
            self._next[symbol] += self.interval_seconds(symbol)
            self._rates[symbol] = self._draw()
        return settled

    def _draw(self) -> Decimal:
        jitter = self.plan.jitter
        if jitter == 0:
            return self.plan.base_rate
        units = int(jitter / RATE_QUANTUM)
        return self.plan.base_rate + self._random.randint(-units, units) * RATE_QUANTUM


# The venues' schedules: Aster every 8 h per symbol (some symbols 4 h), Backpack hourly; both
# at a base of 0.01 % per 8 h (Backpack: split over its 8 hourly payments).
ASTER_FUNDING = FundingPlan(Decimal(8), Decimal("0.0001"), Decimal("0.00005"))
BACKPACK_FUNDING = FundingPlan(Decimal(1), Decimal("0.0000125"), Decimal("0.00000625"))


@dataclass(frozen=True, slots=True)
class FundingView:
    """What a venue shows of a symbol's funding: the predicted rate, the next settlement
    (seconds) and the interval (hours)."""

    rate: Decimal
    next_at: float
    hours: Decimal


def funding_view(
    schedule: FundingSchedule | None,
    default: FundingPlan,
    symbol: str,
    now: float,
    settled: Sequence[FundingRate] = (),
) -> FundingView:
    """From the venue's schedule; without one (funding off) the venue's own interval and a
    zero rate, the next settlement one interval after the last one `settled` (a test's, off
    any plan) at the earliest, as a venue publishes its next settlement after each."""
    if schedule is not None:
        hours = schedule.plan.hours(symbol)
        return FundingView(schedule.rate(symbol), schedule.next_time(symbol), hours)
    interval = float(default.hours(symbol)) * HOUR
    next_at = (now // interval + 1) * interval
    if settled:
        next_at = max(next_at, settled[-1].at + interval)
    return FundingView(Decimal(0), next_at, default.hours(symbol))
