"""How the next round opens: which venue holds its short (`strategy.direction`), and whether a
funding settlement just ahead keeps it waiting (`strategy.avoid_funding_seconds`)
(docs/architecture.md#which-way-a-round-faces).

The venues' funding for the pair is read beside the loop, only when one of the two options
needs it: once at start, every REFRESH_SECONDS, and again after a settlement it announced has
passed. The loop decides on what was read last, without a venue call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from hedged import carry
from hedged.adapters.base import Venue, VenueError
from hedged.config import StrategyConfig
from hedged.i18n import _
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.model import FundingInfo

log = logging.getLogger(__name__)

FIXED = {"aster_short": ASTER, "backpack_short": BACKPACK}
REFRESH_SECONDS = 60.0  # the predicted rates drift slowly; read them this often
RETRY_SECONDS = 5.0  # after a failed read


class Entries:
    def __init__(
        self,
        strategy: StrategyConfig,
        venues: Mapping[str, Venue],
        symbols: Mapping[str, str],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.strategy = strategy
        self.venues = venues
        self.symbols = symbols
        self._wake = wake  # a read arrived: the loop may open a round now
        self.needed = strategy.direction == "auto" or strategy.avoid_funding_seconds > 0
        self.funding: dict[str, FundingInfo] = {}
        self._reading = False
        self._next_read = 0.0  # monotonic
        # When the last read began, and the last complete one (wall clock).
        self._tried_at: datetime | None = None
        self._read_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether to read the venues' funding now: the options need it, no read is under
        way, and the last is old or a settlement it announced has passed since it began."""
        if not self.needed or self._reading:
            return False
        return time.monotonic() >= self._next_read or bool(self._settled_since(self._tried_at, now))

    async def refresh(self, now: datetime) -> None:
        """Read each venue's funding for the pair (`now`: when the read begins). A venue that
        fails keeps what was read before, and both are read again after RETRY_SECONDS."""
        self._reading, self._tried_at = True, now
        failed = False
        try:
            for v in VENUES:
                try:
                    self.funding[v] = await self._read(v)
                except VenueError as e:
                    failed = True
                    log.warning(_("%s: cannot read the funding rate: %s"), v, e, extra={"venue": v})
            if not failed:
                self._read_at = now
        finally:
            self._reading = False
            self._next_read = time.monotonic() + (RETRY_SECONDS if failed else REFRESH_SECONDS)
        self._wake()

    async def _read(self, venue: str) -> FundingInfo:
        info = await self.venues[venue].funding_info(self.symbols[venue])
        if info.interval_hours <= 0:  # no rate per hour: nothing to decide on
            raise VenueError(f"funding interval of {info.interval_hours} hours")
        return info

    def _settled_since(self, read_at: datetime | None, now: datetime) -> list[str]:
        """The venues whose announced settlement has passed since a read began at
        `read_at`: their next rate is not known from it."""
        return [
            v
            for v, f in self.funding.items()
            if f.next_at <= now and (read_at is None or read_at < f.next_at)
        ]

    def direction(self) -> tuple[str, Mapping[str, Any] | None]:
        """The venue of the next round's short, and why (journaled with the round; None when
        the configuration fixes it). With "auto", only once `why_not_open` is None."""
        fixed = FIXED.get(self.strategy.direction)
        if fixed is not None:
            return fixed, None
        choice = carry.choose(self.funding)
        return choice.short, choice.journal()

    def why_not_open(self, now: datetime) -> str | None:
        """Why the funding keeps the next round from opening now (hedgectl shows it)."""
        if not self.needed:
            return None
        missing = [v for v in VENUES if v not in self.funding]
        if missing:
            return f"no funding rate from {', '.join(missing)} yet"
        settled = self._settled_since(self._read_at, now)
        if settled:
            return f"funding settled on {', '.join(settled)}: reading the next rates"
        seconds = self.strategy.avoid_funding_seconds
        if not seconds:
            return None
        short, _why = self.direction()
        ahead = carry.costly_settlement(self.funding, short, now, timedelta(seconds=seconds))
        if ahead is None:
            return None
        return (
            f"funding on {' and '.join(ahead.venues)} at {ahead.at:%H:%M:%S} UTC would cost "
            f"the hedge (short on {short}, {ahead.net:+.6%} of its notional): opening after it"
        )
