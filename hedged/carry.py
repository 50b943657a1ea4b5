"""What the venues' funding says about the next round: which venue should hold its short, and
whether a settlement just ahead would cost it (docs/architecture.md#which-way-a-round-faces).

Pure: each venue's funding (`FundingInfo`) in, a decision out. A positive rate means longs
pay shorts `rate x notional` at the settlement; both legs hold the same notional, so the
hedge's carry per unit of notional is the short venue's rate minus the long venue's. Aster
settles every 4-8 hours and Backpack every hour, so rates are compared per hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from hedged.legs import ASTER, BACKPACK, other_venue
from hedged.model import FundingInfo


def per_hour(terms: FundingInfo) -> Decimal:
    return terms.rate / terms.interval_hours


@dataclass(frozen=True, slots=True)
class Choice:
    """The short's venue, and the rates per hour it was chosen on."""

    short: str
    rates_per_hour: Mapping[str, Decimal]

    @property
    def long(self) -> str:
        return other_venue(self.short)

    @property
    def carry_per_hour(self) -> Decimal:
        """What the hedge expects to earn per hour per unit of notional (< 0: to pay)."""
        return self.rates_per_hour[self.short] - self.rates_per_hour[self.long]

    def journal(self) -> dict[str, object]:
        """The round's record of why it faces this way."""
        return {
            "long": self.long,
            "rate_per_hour": {v: str(r) for v, r in sorted(self.rates_per_hour.items())},
            "carry_per_hour": str(self.carry_per_hour),
        }


def choose(terms: Mapping[str, FundingInfo]) -> Choice:
    """The short goes on the venue with the higher rate per hour: there it receives what the
    long on the other venue would pay, so the hedge's carry is the larger of the two (never
    negative). On a tie, Aster: the original strategy."""
    rates = {ASTER: per_hour(terms[ASTER]), BACKPACK: per_hour(terms[BACKPACK])}
    return Choice(BACKPACK if rates[BACKPACK] > rates[ASTER] else ASTER, rates)


@dataclass(frozen=True, slots=True)
class Settlement:
    """A settlement ahead: when, which venues settle then, and the hedge's expected net
    payment per unit of notional (> 0 received, < 0 paid)."""

    at: datetime
    venues: tuple[str, ...]
    net: Decimal


def costly_settlement(
    terms: Mapping[str, FundingInfo], short: str, now: datetime, within: timedelta
) -> Settlement | None:
    """The first settlement in the next `within` whose expected net payment to a hedge with
    its short on `short` is negative; None when there is none. The venues settling at the
    same moment (Aster's boundaries are also Backpack's) are counted together: the short
    receives its venue's rate, the long pays its own. A settlement already past is not one
    ahead (its venue's next is an interval later, beyond any window shorter than that)."""
    ahead: dict[datetime, list[tuple[str, Decimal]]] = {}
    for venue, t in sorted(terms.items()):
        if now < t.next_at <= now + within:
            ahead.setdefault(t.next_at, []).append((venue, t.rate if venue == short else -t.rate))
    for at in sorted(ahead):
        net = sum((payment for _venue, payment in ahead[at]), Decimal(0))
        if net < 0:
            return Settlement(at, tuple(v for v, _payment in ahead[at]), net)
    return None
