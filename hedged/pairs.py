"""The pairs one daemon trades: each with its symbols, its own strategy and symbol rules, its
own rounds counted against its own limits, and its own blocking (a position the store
cannot explain on a pair's symbol stops new rounds on that pair only)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from hedged.config import PairConfig, StrategyConfig
from hedged.i18n import _
from hedged.leadership import book_of
from hedged.legs import ASTER, BACKPACK
from hedged.model import SymbolRules
from hedged.store import RoundRow, utcnow

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Pair:
    config: PairConfig
    strategy: StrategyConfig  # the pair's own: [strategy] with its overrides
    symbols: dict[str, str]  # venue -> symbol
    book: str  # its name in the lease table
    rules: dict[str, SymbolRules] = field(default_factory=dict)  # by venue
    live: set[int] = field(default_factory=set)  # its rounds in a live state
    blocked: str | None = None  # why no new round may open on it
    opened: int = 0  # rounds opened on it by this run
    resumed: int = 0  # its live rounds found when the lease was taken
    not_opening: str | None = None  # as hedgectl shows it
    cooldown_until: float = 0.0  # monotonic
    cooldown_note: str = ""
    pnl_today: tuple[datetime, Decimal] | None = None
    configured: bool = True  # False: adopted for a live round on a pair no longer listed
    led: bool = True  # this daemon holds its book (in a fleet, only its share's pairs)

    @classmethod
    def of(cls, config: PairConfig) -> Pair:
        symbols = {ASTER: config.aster_symbol, BACKPACK: config.backpack_symbol}
        book = book_of(config.aster_symbol, config.backpack_symbol)
        return cls(config, config.strategy, symbols, book)

    @property
    def name(self) -> str:
        return self.config.name

    def trades(self, venue: str, symbol: str) -> bool:
        return self.symbols.get(venue) == symbol

    def forget(self) -> None:
        """What a new leader learns afresh (another daemon may have moved its rounds)."""
        self.live.clear()
        self.blocked = None
        self.resumed = 0
        self.pnl_today = None

    def add_realized(self, day: datetime, pnl: Decimal | None) -> None:
        """A round of `day` (UTC) done with `pnl`: today's sum grows by it without reading
        back every round done today (a daemon making volume ends thousands a day)."""
        if self.pnl_today is None or self.pnl_today[0] != day:
            self.pnl_today = None  # read afresh when next asked
        else:
            self.pnl_today = (day, self.pnl_today[1] + (pnl or Decimal(0)))

    def cooldown_from(self, last_ended: datetime | None, now_monotonic: float) -> None:
        """The cooldown after a stored end, in monotonic time: a wall clock stepped back makes
        that end lie in the future, which counts as now (not as a long wait)."""
        if last_ended is None:
            self.cooldown_until = 0.0
            return
        ago = (utcnow() - last_ended).total_seconds()
        if ago < 0:
            log.warning(
                _("the last round ended %s, %.0fs in the future by this clock: counting it as now"),
                last_ended.isoformat(),
                -ago,
            )
            ago = 0.0
        left = float(self.strategy.cooldown_seconds) - ago
        until = utcnow() + timedelta(seconds=min(max(left, 0.0), 1e9))  # no overflow
        self.cooldown_note = f"cooling down until {until:%Y-%m-%d %H:%M:%S} UTC"
        self.cooldown_until = now_monotonic + left


class Pairs:
    """The daemon's pairs, found by name or by a round's symbols."""

    def __init__(self, configs: Iterable[PairConfig]) -> None:
        self._by_name = {p.aster_symbol: Pair.of(p) for p in configs}

    def __iter__(self) -> Iterator[Pair]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def first(self) -> Pair:
        return next(iter(self._by_name.values()))

    def get(self, name: str) -> Pair | None:
        return self._by_name.get(name)

    def of(self, r: RoundRow) -> Pair:
        """The round's pair; a round on a pair no longer configured keeps being stepped to
        its end under the daemon's strategy, and opens nothing (`adopt`)."""
        pair = self._by_name.get(r.aster_symbol)
        if pair is None or pair.symbols[BACKPACK] != r.backpack_symbol:
            raise LookupError(f"round {r.id}: pair {r.aster_symbol}/{r.backpack_symbol}")
        return pair

    def adopt(self, r: RoundRow, strategy: StrategyConfig) -> Pair:
        """A pair for a live round on symbols the configuration no longer lists."""
        config = PairConfig(r.aster_symbol, r.backpack_symbol, strategy)
        pair = Pair.of(config)
        pair.configured = False  # led: only the daemon that sees strays adopts one
        self._by_name[r.aster_symbol] = pair
        return pair

    def symbols(self) -> dict[str, list[str]]:
        """Venue -> every configured pair's symbol there, in the pairs' order."""
        return {v: [p.symbols[v] for p in self if p.configured] for v in (ASTER, BACKPACK)}

    def unstreamed(self) -> list[tuple[str, str]]:
        """The (venue, symbol) of adopted pairs, which no price stream carries."""
        return [(v, s) for p in self if not p.configured for v, s in p.symbols.items()]

    def by_symbol(self, led: bool = False) -> Mapping[tuple[str, str], Pair]:
        """(venue, symbol) -> its pair, of every pair or of those this daemon trades now."""
        return {(v, s): p for p in self if p.led or not led for v, s in p.symbols.items()}

    def led(self) -> list[Pair]:
        """The pairs this daemon trades now: every one, or in a fleet those of its books."""
        return [p for p in self if p.led]

    def lead(self, books: Collection[str]) -> Callable[[str, str], bool]:
        """Trade the pairs of `books` from now on; what is this daemon's in the store: the
        (venue, symbol) of its pairs, and of pairs no book covers (a live round on a pair
        dropped from the configuration) if it holds the first book."""
        strays = self.first.book in books
        for p in self:
            p.led = p.book in books if p.configured else strays
        configured = [p for p in self if p.configured]
        mine = {(v, s) for p in configured if p.led for v, s in p.symbols.items()}
        others = {(v, s) for p in configured if not p.led for v, s in p.symbols.items()}

        def ours(venue: str, symbol: str) -> bool:
            return (venue, symbol) in mine or (strays and (venue, symbol) not in others)

        return ours
