"""Everything one Backpack server works with: the world and its exchange, accounts, faults,
its orders' client ids and wire details, the WebSocket hub and the admin counters."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from hedged.sim.accounts import Accounts
from hedged.sim.arrivals import Arrivals
from hedged.sim.backpack.errors import invalid_order, invalid_symbol
from hedged.sim.backpack.ids import ClientIds
from hedged.sim.backpack.limits import BackpackLimits
from hedged.sim.backpack.shapes import book_mark
from hedged.sim.candles import Tape
from hedged.sim.exchange import SimExchange
from hedged.sim.faults import WireFaults
from hedged.sim.funding import BACKPACK_FUNDING, FundingView
from hedged.sim.hub import Hub
from hedged.sim.limits import Clock
from hedged.sim.records import Book, MarketSpec, PriceSource, SimPosition
from hedged.sim.world import World


@dataclass
class BackpackState:
    world: World
    name: str
    accounts: Accounts
    faults: WireFaults
    clock: Clock
    limits: BackpackLimits
    exchange: SimExchange
    symbol: str
    ids: ClientIds
    tape: Tape
    hub: Hub = field(default_factory=Hub)
    submissions: Counter[str] = field(default_factory=Counter)
    arrivals: Arrivals = field(default_factory=Arrivals)
    book_updates: int = 0
    leverage: dict[str, int] = field(default_factory=dict)  # by account: its leverageLimit

    @classmethod
    def create(
        cls,
        world: World,
        name: str,
        accounts: Accounts,
        faults: WireFaults,
        clock: Clock,
        limits: BackpackLimits,
    ) -> BackpackState:
        exchange = world.venues[name]
        for key in accounts.backpack.values():
            starting = accounts.balances.get(key.account)
            # Fund each account once, even when a second server starts on the same world.
            if starting is not None and exchange.balance(key.account) == 0:
                exchange.deposit(key.account, starting)
        return cls(
            world,
            name,
            accounts,
            faults,
            clock,
            limits,
            exchange,
            world.symbols[name],
            ClientIds(exchange),
            Tape(world, name),
        )

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    def funding(self, symbol: str) -> FundingView:
        return self.world.funding_view(self.name, symbol, BACKPACK_FUNDING, self.clock())

    def market(self, symbol: str) -> MarketSpec:
        market = self.exchange.markets.get(symbol)
        if market is None:
            raise invalid_symbol()
        return market

    def book(self, symbol: str) -> Book:
        book = self.exchange.book(self.market(symbol).symbol)
        if book is None:
            raise invalid_order("No liquidity for market order")
        return book

    def mark(self, symbol: str) -> Decimal:
        """The mark trigger orders watch; the middle of the book where the world sets none."""
        mark = self.exchange.mark(self.market(symbol).symbol)
        return mark if mark is not None else book_mark(self.book(symbol))

    def index(self, symbol: str) -> Decimal:
        """The index trigger orders watch (the world's underlying), else the mark."""
        index = self.exchange.price(self.market(symbol).symbol, PriceSource.INDEX)
        return index if index is not None else self.mark(symbol)

    def positions(self, account: str, symbol: str | None = None) -> list[SimPosition]:
        """The account's open positions, on `symbol` or on every market."""
        symbols = [symbol] if symbol is not None else list(self.exchange.markets)
        held = (self.exchange.position(account, s) for s in symbols)
        return [position for position in held if position.qty != 0]


def user_id(account: str) -> int:
    return zlib.crc32(account.encode())


def position_id(account: str, symbol: str) -> int:
    return zlib.crc32(f"{account}/{symbol}".encode())


STATE = web.AppKey("backpack_venue", BackpackState)
