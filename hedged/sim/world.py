"""One underlying price quoted by several simulated venues, with a basis and a spread."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from hedged.model import ZERO, ceil_to, floor_to
from hedged.sim.exchange import SimExchange
from hedged.sim.funding import FundingSchedule
from hedged.sim.pricepath import GbmPath, PricePath
from hedged.sim.records import Book, MarketSpec

ASTER_SYMBOL = "SOLUSDT"
BACKPACK_SYMBOL = "SOL_USDC_PERP"
BPS = Decimal(10_000)

# Called with (venue, symbol, book) after every book change.
BookListener = Callable[[str, str, Book], None]


class World:
    """The first venue quotes the underlying; the others quote it times (1 + basis).
    Every venue's bid/ask sits `spread_bps` apart around its mid, on its tick. A venue with
    a funding schedule settles funding whenever the price moves past one of its boundaries."""

    def __init__(
        self,
        path: PricePath,
        venues: Mapping[str, SimExchange],
        symbols: Mapping[str, str],
        basis_bps: Decimal = ZERO,
        spread_bps: Decimal = Decimal(2),
        funding: Mapping[str, FundingSchedule] | None = None,
    ) -> None:
        if not venues or venues.keys() != symbols.keys():
            raise ValueError("give each venue exactly one symbol")
        self.path = path
        self.venues = dict(venues)
        self.symbols = dict(symbols)
        self.basis_bps = basis_bps
        self.spread_bps = spread_bps
        self.funding = dict(funding or {})
        self._reference = next(iter(self.venues))
        self._listeners: list[BookListener] = []
        for venue, exchange in self.venues.items():
            exchange.before_trade = functools.partial(self._settle_due, venue)
        self._rebook()

    @property
    def price(self) -> Decimal:
        return self.path.price

    def mid(self, venue: str) -> Decimal:
        if venue == self._reference:
            return self.price
        return self.price * (1 + self.basis_bps / BPS)

    def book(self, venue: str) -> Book:
        market = self.venues[venue].markets[self.symbols[venue]]
        mid = self.mid(venue)
        half_spread = mid * self.spread_bps / BPS / 2
        bid = floor_to(mid - half_spread, market.tick)
        ask = max(ceil_to(mid + half_spread, market.tick), bid + market.tick)
        return Book(bid, ask)

    def advance(self, dt_seconds: float) -> Decimal:
        self.path.advance(dt_seconds)
        self._rebook()
        return self.price

    def set_price(self, price: Decimal) -> None:
        """Force the underlying (tests); the path continues from it."""
        self.path.set(price)
        self._rebook()

    def add_listener(self, listener: BookListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: BookListener) -> None:
        self._listeners.remove(listener)

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
            symbol = self.symbols[venue]
            book = self.book(venue)
            exchange.set_book(symbol, book.bid, book.ask, mark=self.mid(venue), index=self.price)
            self._settle_due(venue, symbol)
            for listener in list(self._listeners):
                listener(venue, symbol, book)

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
