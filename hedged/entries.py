"""How the next round opens: which venue holds its short (`strategy.direction`), and whether a
funding settlement just ahead keeps it waiting (`strategy.avoid_funding_seconds`)
(docs/architecture.md#which-way-a-round-faces).

It decides on the venues' funding as last read for the pair (the funding collector reads it
beside the loop, once a minute and after each settlement it announced), so the loop makes
no venue call for it.

Concurrent rounds share one net position per venue, and their exits are reduce-only: a round
facing the other way would leave another round's exit nothing to reduce. So while rounds are
open on the pair, a new one faces their way, whatever the funding or the configuration says.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from hedged import carry
from hedged.config import StrategyConfig
from hedged.legs import ASTER, BACKPACK, VENUES, other_venue
from hedged.model import FundingInfo

FIXED = {"aster_short": ASTER, "backpack_short": BACKPACK}

# venue -> its funding for the pair's symbol there, as last read (absent: not read yet)
FundingSource = Callable[[], Mapping[str, FundingInfo]]
# the short venues of the rounds open on the pair
OpenShorts = Callable[[], Collection[str]]
FOLLOWS = "the open rounds (they share one position per venue)"


class Entries:
    def __init__(
        self, strategy: StrategyConfig, funding: FundingSource, open_shorts: OpenShorts
    ) -> None:
        self.strategy = strategy
        self.funding = funding
        self.open_shorts = open_shorts
        self.needed = strategy.direction == "auto" or strategy.avoid_funding_seconds > 0

    def direction(self) -> tuple[str, Mapping[str, Any] | None]:
        """The venue of the next round's short, and why (journaled with the round; None when
        the configuration fixes it). Only once `why_not_open` is None."""
        fixed = FIXED.get(self.strategy.direction)
        shorts = set(self.open_shorts())
        if shorts:
            (short,) = shorts
            follows = {"long": other_venue(short), "follows": FOLLOWS}
            return short, None if short == fixed else follows
        if fixed is not None:
            return fixed, None
        choice = carry.choose(self.funding())
        return choice.short, choice.journal()

    def why_not_open(self, now: datetime) -> str | None:
        """Why the direction or the funding keeps the next round from opening now (hedgectl
        shows it)."""
        if len(set(self.open_shorts())) > 1:  # (rounds from before a configuration change)
            return "open rounds face both ways (one position per venue): none opens until one ends"
        if not self.needed:
            return None
        funding = self.funding()
        missing = [v for v in VENUES if v not in funding or funding[v].interval_hours <= 0]
        if missing:  # (an interval of 0 hours gives no rate per hour)
            return f"no funding rate from {', '.join(missing)} yet"
        seconds = self.strategy.avoid_funding_seconds
        if not seconds:
            return None
        short, _why = self.direction()
        ahead = carry.costly_settlement(funding, short, now, timedelta(seconds=seconds))
        if ahead is None:
            return None
        return (
            f"funding on {' and '.join(ahead.venues)} at {ahead.at:%H:%M:%S} UTC would cost "
            f"the hedge (short on {short}, {ahead.net:+.6%} of its notional): opening after it"
        )
