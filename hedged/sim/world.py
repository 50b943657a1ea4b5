"""One underlying price quoted by several simulated venues, with a basis and a spread."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from hedged.model import ZERO, ceil_to, floor_to
from hedged.sim.exchange import SimExchange
from hedged.sim.funding import FundingPlan, FundingSchedule, FundingView, funding_view
from hedged.sim.pricepath import GbmPath, PricePath
from hedged.sim.records import Book, MarketSpec

ASTER_SYMBOL = "SOLUSDT"
BACKPACK_SYMBOL = "SOL_USDC_PERP"
BPS = Decimal(10_000)

# Called with (venue, symbol, book) after every book change.
BookListener = Callable[[str, str, Book], None]
Market = tuple[str, str]  # (venue, symbol)


class World:
    """The first venue quotes the underlying; the others quote it times (1 + basis).
    Every venue's bid/ask sits `spread_bps` apart around its mid, on its tick. A venue with
    a funding schedule settles funding whenever the price moves past one of its boundaries.
    A venue may list several symbols. Given one path, each quotes the same underlying (a
    daemon trading many pairs sees every pair move at once); given a path per pair, the
    i-th symbol of every venue (pair i) quotes the i-th path's underlying."""

    def __init__(
        self,
        path: PricePath | Sequence[PricePath],
        venues: Mapping[str, SimExchange],
        symbols: Mapping[str, str | Sequence[str]],
        basis_bps: Decimal = ZERO,
        spread_bps: Decimal = Decimal(2),
        funding: Mapping[str, FundingSchedule] | None = None,
    ) -> None:
        if not venues or venues.keys() != symbols.keys():
            raise ValueError("give each venue its symbols")
        self.venues = dict(venues)
        # every symbol each venue quotes; `symbols`: the first, the venue's main one
        self.quoted = {v: (s,) if isinstance(s, str) else tuple(s) for v, s in symbols.items()}
        self.symbols = {v: quoted[0] for v, quoted in self.quoted.items()}
        self.paths: tuple[PricePath, ...] = tuple(path) if isinstance(path, Sequence) else (path,)
        if len(self.paths) > 1 and any(len(q) != len(self.paths) for q in self.quoted.values()):
            raise ValueError("give each pair its path: as many as each venue's symbols")
        self.path = self.paths[0]  # the main pair's
        # (venue, symbol) -> its pair's path
        self._path_of = {
            (venue, symbol): self.paths[i if len(self.paths) > 1 else 0]
            for venue, quoted in self.quoted.items()
            for i, symbol in enumerate(quoted)
        }
        self.basis_bps = basis_bps
        self.spread_bps = spread_bps
        self.funding = dict(funding or {})
        self._reference = next(iter(self.venues))
        # by the market they follow (None: every market); a venue listing many symbols would
        # otherwise call every symbol's listeners on every symbol's change
        self._listeners: dict[Market | None, list[BookListener]] = {}
        for venue, exchange in self.venues.items():
            exchange.before_trade = functools.partial(self._settle_due, venue)
        self._rebook()

    @property
    def price(self) -> Decimal:
        """The main pair's underlying."""
        return self.path.price

    def underlying(self, venue: str, symbol: str | None = None) -> Decimal:
        """The underlying `symbol` (default: the venue's main one) quotes."""
        return self._path_of[venue, symbol or self.symbols[venue]].price

    def mid(self, venue: str, symbol: str | None = None) -> Decimal:
        price = self.underlying(venue, symbol)
        if venue == self._reference:
            return price
        return price * (1 + self.basis_bps / BPS)

    def book(self, venue: str, symbol: str | None = None) -> Book:
        symbol = symbol or self.symbols[venue]
        market = self.venues[venue].markets[symbol]
        mid = self.mid(venue, symbol)
        half_spread = mid * self.spread_bps / BPS / 2
        bid = floor_to(mid - half_spread, market.tick)
        ask = max(ceil_to(mid + half_spread, market.tick), bid + market.tick)
        return Book(bid, ask)

    def advance(self, dt_seconds: float) -> Decimal:
        for path in self.paths:
            path.advance(dt_seconds)
        self._rebook()
        return self.price

    def set_price(self, price: Decimal, symbol: str | None = None) -> None:
        """Force the underlying (tests): every pair's, or only the pair quoting `symbol` (on
        any venue; KeyError if none does). The paths continue from it."""
        if symbol is None:
            paths = self.paths
        else:
            held = [p for (_, s), p in self._path_of.items() if s == symbol]
            if not held:
                raise KeyError(symbol)
            paths = (held[0],)
        for path in paths:
            path.set(price)
        self._rebook()

    def add_listener(self, listener: BookListener, market: Market | None = None) -> None:
        """Call `listener` after each book change of `market` (None: of every market)."""
        self._listeners.setdefault(market, []).append(listener)

    def remove_listener(self, listener: BookListener) -> None:
        for listeners in self._listeners.values():
            if listener in listeners:
                listeners.remove(listener)
                return
        raise ValueError("not a listener of this world")

    async def run(self, tick_seconds: float) -> None:
        """Advance with the wall clock every `tick_seconds` until cancelled."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(tick_seconds)
            now = time.monotonic()
            self.advance(now - last)
            last = now

    def _rebook(self) -> None:
        for venue, exchange in self.venues.items():
            for symbol in self.quoted[venue]:
                book = self.book(venue, symbol)
                mid, index = self.mid(venue, symbol), self.underlying(venue, symbol)
                exchange.set_book(symbol, book.bid, book.ask, mark=mid, index=index)
                self._settle_due(venue, symbol)
                for market in ((venue, symbol), None):
                    for listener in list(self._listeners.get(market, ())):
                        listener(venue, symbol, book)

    def funding_view(
        self, venue: str, symbol: str, default: FundingPlan, now: float
    ) -> FundingView:
        """What `venue` publishes of `symbol`'s funding (`default`: its plan while its funding
        is off, the next settlement then placed after any settlement a test forced)."""
        schedule = self.funding.get(venue)
        settled = () if schedule is not None else self.venues[venue].funding_rates(symbol)
        return funding_view(schedule, default, symbol, now, settled)

    def _settle_due(self, venue: str, symbol: str) -> None:
        """Pay the settlements whose time has passed: on every price move, and before any
        trade (so a position opened after a settlement's time never takes part in it)."""
        schedule = self.funding.get(venue)
        for at, rate in schedule.due(symbol) if schedule is not None else ():
            self.venues[venue].settle_funding(symbol, rate, at)


# Aster writes amounts, fees included, to 8 decimals; Backpack as computed.
FEE_PLACES: dict[str, int | None] = {"aster": 8, "backpack": None}


def sol_market(
    symbol: str,
    *,
    taker_fee: Decimal,
    maker_fee: Decimal,
    step: Decimal = Decimal("0.01"),
    depth_qty: Decimal | None = None,
    fee_places: int | None = None,
) -> MarketSpec:
    """A SOL perpetual with the venues' real filters: tick 0.01, min qty 0.01, min notional 5."""
    return MarketSpec(
        symbol=symbol,
        tick=Decimal("0.01"),
        step=step,
        min_qty=max(Decimal("0.01"), step),
        min_notional=Decimal(5),
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        depth_qty=depth_qty,
        fee_places=fee_places,
    )


def default_world(
    seed: int = 1,
    start_price: Decimal = Decimal(150),
    volatility: Decimal = Decimal("0.8"),
    basis_bps: Decimal = ZERO,
    spread_bps: Decimal = Decimal(2),
    *,
    aster_taker_fee: Decimal = Decimal("0.00035"),
    aster_maker_fee: Decimal = Decimal("0.0001"),
    backpack_taker_fee: Decimal = Decimal("0.0005"),
    backpack_maker_fee: Decimal = Decimal("0.0002"),
    aster_step: Decimal = Decimal("0.01"),
    backpack_step: Decimal = Decimal("0.01"),
    depth_qty: Decimal | None = None,
    clock: Callable[[], float] = time.time,
) -> World:
    """Aster SOLUSDT and Backpack SOL_USDC_PERP on one GBM path, with the venues' base fees."""
    aster = sol_market(
        ASTER_SYMBOL,
        taker_fee=aster_taker_fee,
        maker_fee=aster_maker_fee,
        step=aster_step,
        depth_qty=depth_qty,
        fee_places=FEE_PLACES["aster"],
    )
    backpack = sol_market(
        BACKPACK_SYMBOL,
        taker_fee=backpack_taker_fee,
        maker_fee=backpack_maker_fee,
        step=backpack_step,
        depth_qty=depth_qty,
        fee_places=FEE_PLACES["backpack"],
    )
    return World(
        GbmPath(start_price, volatility, seed),
        {
            "aster": SimExchange("aster", {ASTER_SYMBOL: aster}, clock),
            "backpack": SimExchange("backpack", {BACKPACK_SYMBOL: backpack}, clock),
        },
        {"aster": ASTER_SYMBOL, "backpack": BACKPACK_SYMBOL},
        basis_bps,
        spread_bps,
    )
