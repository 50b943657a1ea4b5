"""Price paths that cross a stop, and what a 5-second poller would have done on each.

The underlying follows driftless GBM, observed as price events every `dt` seconds (the
venue's bookTicker pushes). Each venue quotes it as the simulator does (`World.book`: bid and
ask `spread_bps` apart around the mid, floored/ceiled to the 0.01 tick), computed here in
integers so that it agrees exactly with the simulator's Decimal arithmetic.

A stop is "crossed" at the first event whose exit-side price reaches the stop level. The
event-driven engine sees that event; the poller reads the book every `poll` seconds (phase
uniform in [0, poll)) and acts at the first read that is beyond the stop. Both then fill at
the book `latency` seconds later. Overshoot: how far past the stop level the exit fills, in
basis points of the stop level (positive = worse than the stop).

The path is drawn with adaptive step sizes (one Gaussian for 10**k events while the stop is
more than 8 standard deviations of that jump away), exact in distribution to ~1e-15 and
fast enough to draw thousands of crossings in a second or two.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

YEAR = 365 * 24 * 3600
E8 = 10**8  # mids are integers in units of 1e-8 (the simulator's price quantum)
TICK = 10**6  # 0.01 in those units
LEVELS = (100_000, 10_000, 1000, 100, 10, 1)


@dataclass(frozen=True)
class Stop:
    """A leg's stop: `up` for a short (stops when the ask reaches `level_ticks`), else a long
    (stops when the bid falls to `level_ticks`); `level` is entry * (1 +/- stop_loss)."""

    up: bool
    level: Decimal
    level_ticks: int

    @classmethod
    def short(cls, entry: Decimal, stop_loss: Decimal) -> Stop:
        level = entry * (1 + stop_loss)
        return cls(True, level, int((level / Decimal("0.01")).to_integral_value(ROUND_CEILING)))

    @classmethod
    def long(cls, entry: Decimal, stop_loss: Decimal) -> Stop:
        level = entry * (1 - stop_loss)
        return cls(False, level, int((level / Decimal("0.01")).to_integral_value(ROUND_FLOOR)))

    def overshoot_bp(self, fill: Decimal) -> float:
        past = fill - self.level if self.up else self.level - fill
        return float(past / self.level * 10_000)


def book_ticks(mid: int, spread_bps: int = 2) -> tuple[int, int]:
    """(bid, ask) in ticks, as `World.book` computes them (basis 0)."""
    den = 20_000 * TICK
    bid = mid * (20_000 - spread_bps) // den
    ask = -(-mid * (20_000 + spread_bps) // den)
    return bid, max(ask, bid + 1)


def beyond(stop: Stop, mid: int, spread_bps: int = 2) -> bool:
    bid, ask = book_ticks(mid, spread_bps)
    return ask >= stop.level_ticks if stop.up else bid <= stop.level_ticks


def exit_price(stop: Stop, mid: int, spread_bps: int = 2) -> Decimal:
    """What a market close fills at: a short buys at the ask, a long sells at the bid."""
    bid, ask = book_ticks(mid, spread_bps)
    return Decimal(ask if stop.up else bid) / 100


def mid_text(mid: int) -> str:
    return f"{mid // E8}.{mid % E8:08d}"


@dataclass
class Crossing:
    stop: Stop
    dt: float
    cross: int  # index of the first event beyond the stop
    window_start: int  # event index of window[0]
    window: list[int]  # mids from `lead` events before the crossing to `after` events past it
    poll_at: float  # when the poller's read first found the book beyond the stop (seconds)
    poll_window_start: int
    poll_window: list[int]  # mids from the poller's read on
    poller_missed: bool = False  # no read saw the stop within `horizon`: the round timed out

    def mids(self) -> list[str]:
        return [mid_text(m) for m in self.window]

    @property
    def lead(self) -> int:
        return self.cross - self.window_start

    def mid_at(self, t: float) -> int:
        """The mid in force at time t after the crossing event (event-driven fill)."""
        i = min(self.lead + int(t / self.dt), len(self.window) - 1)
        return self.window[i]

    def poller_mid(self, latency: float) -> int:
        i = int((self.poll_at + latency) / self.dt) - self.poll_window_start
        return self.poll_window[min(max(i, 0), len(self.poll_window) - 1)]

    @property
    def poller_delay(self) -> float:
        """Seconds from the crossing event to the poller's read that saw it."""
        return self.poll_at - self.cross * self.dt


def draw_crossing(
    rng: random.Random,
    stop: Stop,
    start_mid: Decimal,
    *,
    sigma: float,
    dt: float,
    poll: float = 5.0,
    lead: int = 10,
    after: int = 400,
    spread_bps: int = 2,
    horizon: float = 3600.0,
) -> Crossing:
    """One path from `start_mid` to its first crossing of `stop` within `horizon` seconds
    (the round's time limit; otherwise drawn again), the event-driven window around the
    crossing, and the poller's first beyond-stop read on the same path (or, when none comes
    within `horizon` after the crossing, `poller_missed`: the round would have timed out)."""
    max_events = int(horizon / dt)
    v = sigma * math.sqrt(dt / YEAR)  # log-return std per event
    drift = -v * v / 2
    # the mid (in log) at which the exit-side price reaches the stop, ignoring the tick
    if stop.up:
        edge = (stop.level_ticks - 1) * 20_000 * TICK / (20_000 + spread_bps)
    else:
        edge = (stop.level_ticks + 1) * 20_000 * TICK / (20_000 - spread_bps)
    log_edge = math.log(edge / E8)
    sign = 1.0 if stop.up else -1.0
    phase = rng.uniform(0.0, poll)

    first = round(float(start_mid) * E8)
    while True:  # redraw if a path wanders off for more than max_events
        x = math.log(float(start_mid))
        idx = 0
        recent: deque[tuple[int, int]] = deque(maxlen=lead)
        crossed = False
        while idx < max_events:
            distance = (log_edge - x) * sign  # > 0: not there yet
            step = 1
            for level in LEVELS:
                if distance > 8 * v * math.sqrt(level) + 1e-9:
                    step = level
                    break
            x += drift * step + v * math.sqrt(step) * rng.gauss(0.0, 1.0)
            idx += step
            if step > 1:
                recent.clear()
            mid = round(math.exp(x) * E8)
            if (log_edge - x) * sign < 1e-6 and beyond(stop, mid, spread_bps):
                crossed = True
                break
            recent.append((idx, mid))
        if crossed:
            break

    cross = idx
    before = [m for _, m in recent]
    before = [before[0] if before else first] * (lead - len(before)) + before
    window = [*before, mid]
    for _ in range(after):
        x += drift + v * rng.gauss(0.0, 1.0)
        window.append(round(math.exp(x) * E8))
    window_start = cross - lead
    last = window_start + len(window) - 1

    # The poller: reads at phase + k * poll, each the book of the last event at or before it.
    k = max(0, math.ceil((cross * dt - phase) / poll - 1e-12))
    while (phase + k * poll) / dt < cross:
        k += 1
    idx_at, x_at = last, x
    missed = False
    while True:
        t_read = phase + k * poll
        if t_read > cross * dt + horizon:
            missed = True
            break
        read = int(t_read / dt + 1e-9)
        if read <= last:
            mid = window[read - window_start]
        else:
            gap = read - idx_at
            x_at += drift * gap + v * math.sqrt(gap) * rng.gauss(0.0, 1.0)
            idx_at = read
            mid = round(math.exp(x_at) * E8)
        if beyond(stop, mid, spread_bps):
            break
        k += 1
    poll_window = [mid]
    x_p = math.log(mid / E8)
    if read <= last:  # continue from the window's own path where it has one
        poll_window = window[read - window_start :]
        x_p = math.log(poll_window[-1] / E8)
    for _ in range(max(0, after - len(poll_window) + 1)):
        x_p += drift + v * rng.gauss(0.0, 1.0)
        poll_window.append(round(math.exp(x_p) * E8))
    return Crossing(stop, dt, cross, window_start, window, t_read, read, poll_window, missed)


def start_for(stop: Stop, natural: Decimal, sigma: float, dt: float, poll: float) -> Decimal:
    """Where to start a path: the round's entry, or closer to the stop when the entry is far
    more than the poller's reach away (the result does not depend on it then, and drawing
    the approach would take long)."""
    reach = 4 * sigma * math.sqrt(poll / YEAR) + 20 * sigma * math.sqrt(dt / YEAR)
    distance = abs(math.log(float(stop.level) / float(natural)))
    if distance <= reach:
        return natural
    factor = math.exp(-reach if stop.up else reach)
    return (stop.level * Decimal(factor)).quantize(Decimal("0.00000001"))


def sensitivity(
    latencies: list[float],
    stops: tuple[Stop, Stop],
    start: Decimal,
    cells: list[tuple[float, float]],
    n: int,
    seed: int,
    poll: float = 5.0,
) -> list[dict[str, float]]:
    """Event-driven vs poller overshoot (mean, p99, ratio) for other volatilities and
    event rates, on drawn paths, each crossing acting with a latency drawn from the
    measured ones."""
    rng = random.Random(seed)
    out = []
    for sigma, dt in cells:
        ev: list[float] = []
        po: list[float] = []
        missed = 0
        for i in range(n):
            stop = stops[i % 2]
            c = draw_crossing(
                rng, stop, start_for(stop, start, sigma, dt, poll), sigma=sigma, dt=dt, poll=poll
            )
            latency = rng.choice(latencies) if latencies else 0.0
            ev.append(stop.overshoot_bp(exit_price(stop, c.mid_at(latency))))
            if c.poller_missed:
                missed += 1
                continue
            po.append(stop.overshoot_bp(exit_price(stop, c.poller_mid(latency))))
        ev.sort()
        po.sort()
        ev_mean, po_mean = sum(ev) / len(ev), sum(po) / max(1, len(po))
        ev_p99 = ev[min(len(ev) - 1, math.ceil(0.99 * len(ev)) - 1)]
        po_p99 = po[min(len(po) - 1, math.ceil(0.99 * len(po)) - 1)] if po else math.nan
        out.append(
            {
                "volatility_annual": sigma,
                "event_interval_s": dt,
                "event_driven_mean_bp": ev_mean,
                "event_driven_p99_bp": ev_p99,
                "poller_mean_bp": po_mean,
                "poller_p99_bp": po_p99,
                "ratio_mean": po_mean / ev_mean if ev_mean else math.nan,
                "ratio_p99": po_p99 / ev_p99 if ev_p99 else math.nan,
                "poller_missed": missed,
                "n": n,
            }
        )
    return out
