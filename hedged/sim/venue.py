"""The Venue port served in process by one exchange of a simulated World, with faults on demand."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from decimal import Decimal

from hedged.adapters.base import (
    NOT_SENT,
    Accepted,
    Ambiguous,
    MaySend,
    Outcome,
    ReadyOrder,
    ReconnectHook,
    Rejected,
    VenueError,
    always,
)
from hedged.ids import SCHEMES
from hedged.model import (
    Fill,
    FundingInfo,
    FundingPayment,
    OrderRequest,
    OrderState,
    Position,
    Quote,
    SymbolRules,
    floor_to,
)
from hedged.sim.faults import Fault, FaultKind, Faults, HeldRequests
from hedged.sim.funding import ASTER_FUNDING, BACKPACK_FUNDING
from hedged.sim.records import Book, MarketSpec, OrderRefused, SimFill, SimOrder
from hedged.sim.world import World

INJECTED = "INJECTED"
DEFAULT_PLANS = {"aster": ASTER_FUNDING, "backpack": BACKPACK_FUNDING}


class SimVenue:
    """`Venue` for `account` on `world.venues[venue_name]`. `submissions` counts every client
    id that reached `place`, so a test can prove that no order was sent twice."""

    def __init__(
        self, world: World, venue_name: str, account: str, *, signature_window: float = 5.0
    ) -> None:
        self.name = venue_name
        self.account = account
        self.signature_window = signature_window
        self.faults = Faults()
        self.held = HeldRequests()  # late-delivered writes, processed later
        self.submissions: Counter[str] = Counter()
        self._world = world
        self._exchange = world.venues[venue_name]
        self._client_ids = SCHEMES[venue_name]
        self._may_send: MaySend = always

    def client_id(self, namespace: int, seq: int) -> str:
        return self._client_ids.make(namespace, seq)

    def owns(self, namespace: int, client_id: str) -> bool:
        return self._client_ids.owns(namespace, client_id)

    async def start(self) -> None:
        """Nothing to connect: the exchange lives in this process."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    async def rules(self, symbol: str) -> SymbolRules:
        await self._read("rules")
        return self._market(symbol).rules

    async def quote(self, symbol: str) -> Quote:
        await self._read("quote")
        book = self._exchange.book(symbol)
        if book is None:
            raise VenueError(f"{self.name}: no book for {symbol}")
        return self._quote(symbol, book)

    async def quotes(self, *symbols: str) -> AsyncGenerator[Quote, None]:
        """Each symbol's current book, then every change of them."""
        updates: asyncio.Queue[tuple[str, Book]] = asyncio.Queue()

        def on_book(venue: str, book_symbol: str, book: Book) -> None:
            if venue == self.name and book_symbol in symbols:
                updates.put_nowait((book_symbol, book))

        for symbol in symbols:
            current = self._exchange.book(symbol)
            if current is not None:
                updates.put_nowait((symbol, current))
        self._world.add_listener(on_book)
        try:
            while True:
                symbol, book = await updates.get()
                if await self._fault("quotes") is None:
                    yield self._quote(symbol, book)
        finally:
            self._world.remove_listener(on_book)

    async def order_updates(self) -> AsyncGenerator[OrderState, None]:
        """Every change of this account's orders, as it happens."""
        updates: asyncio.Queue[SimOrder] = asyncio.Queue()

        def on_order(order: SimOrder, fill: SimFill | None) -> None:
            if order.account == self.account:
                updates.put_nowait(order)

        self._exchange.add_listener(on_order)
        try:
            while True:
                yield order_state(await updates.get())
        finally:
            self._exchange.remove_listener(on_order)

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """In process there is no connection to lose."""

    def fence(self, may_send: MaySend, window: float) -> None:
        self._may_send = may_send
        self.signature_window = min(self.signature_window, window)

    def crowded(self) -> bool:
        return False  # in process: no request budget

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        return functools.partial(self.place, order)  # in process: nothing to sign

    async def place(self, order: OrderRequest) -> Outcome:
        if not self._may_send():
            return Rejected(NOT_SENT, "not sent: this daemon does not hold the lease")
        self.submissions[order.client_id] += 1
        fault = await self._fault("place")
        max_fill = self._partial_fill_cap(order, fault)
        return self._write(
            fault, lambda: self._exchange.place(self.account, order, max_fill=max_fill)
        )

    async def cancel(self, symbol: str, client_id: str) -> Outcome:
        if not self._may_send():
            return Rejected(NOT_SENT, "not sent: this daemon does not hold the lease")
        fault = await self._fault("cancel")
        return self._write(
            fault, lambda: self._exchange.cancel(self.account, symbol, client_id=client_id)
        )

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        await self._read("query")
        order = self._exchange.order(self.account, symbol, client_id=client_id)
        return order_state(order) if order else None

    async def open_orders(self, symbol: str) -> list[OrderState]:
        await self._read("open_orders")
        return [order_state(order) for order in self._exchange.open_orders(self.account, symbol)]

    async def position(self, symbol: str) -> Position:
        await self._read("position")
        position = self._exchange.position(self.account, self._market(symbol).symbol)
        return Position(self.name, symbol, position.qty, position.entry_price)

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        await self._read("fills")
        fills = self._exchange.fills(self.account, symbol, client_id=client_id)
        return [self._fill(fill) for fill in fills]

    async def funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        await self._read("funding_payments")
        return [
            FundingPayment(
                venue=self.name,
                payment_id=str(p.payment_id),
                symbol=p.symbol,
                amount=p.amount,
                at=datetime.fromtimestamp(p.at, UTC),
            )
            for p in self._exchange.funding_payments(self.account, symbol)
            if datetime.fromtimestamp(p.at, UTC) >= since
        ]

    async def funding_info(self, symbol: str) -> FundingInfo:
        await self._read("funding_info")
        plan = DEFAULT_PLANS.get(self.name, BACKPACK_FUNDING)
        view = self._world.funding_view(self.name, symbol, plan, self._exchange.now())
        return FundingInfo(
            symbol=symbol,
            rate=view.rate,
            interval_hours=view.hours,
            next_at=datetime.fromtimestamp(view.next_at, UTC),
            mark_price=self._exchange.mark(symbol),
        )

    async def _fault(self, method: str) -> Fault | None:
        """Sleep through armed latency; the other fault hitting this call, if any."""
        faults = self.faults.take(method)
        for fault in faults:
            if fault.kind is FaultKind.LATENCY:
                await asyncio.sleep(fault.seconds)
        return next((f for f in faults if f.kind is not FaultKind.LATENCY), None)

    async def _read(self, method: str) -> None:
        if await self._fault(method) is not None:
            raise VenueError(f"{self.name} {method}: injected error")

    def _write(self, fault: Fault | None, act: Callable[[], SimOrder]) -> Outcome:
        kind = fault.kind if fault else None
        if kind is FaultKind.REJECT:
            return Rejected(INJECTED, f"{self.name}: injected rejection")
        if kind is FaultKind.DROP:
            return Ambiguous("connection reset")
        if fault is not None and fault.kind is FaultKind.LATE:
            self._deliver_late(fault.seconds, act)
            return Ambiguous("timeout")
        try:
            order = act()
        except OrderRefused as refused:
            return Rejected(refused.code.value, refused.message)
        if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
            return Ambiguous("timeout")
        return Accepted(order_state(order))

    def _deliver_late(self, seconds: float, act: Callable[[], SimOrder]) -> None:
        signed_at = time.monotonic()  # in process, a request arrives the moment it is signed

        async def process() -> None:
            # As the real venues do: the signature window is checked when it is processed.
            if time.monotonic() - signed_at > self.signature_window:
                return
            with contextlib.suppress(OrderRefused):
                act()

        self.held.hold(seconds, process)

    def _market(self, symbol: str) -> MarketSpec:
        market = self._exchange.markets.get(symbol)
        if market is None:
            raise VenueError(f"{self.name}: unknown symbol {symbol}")
        return market

    def _partial_fill_cap(self, order: OrderRequest, fault: Fault | None) -> Decimal | None:
        market = self._exchange.markets.get(order.symbol)
        if fault is None or fault.kind is not FaultKind.PARTIAL or market is None:
            return None
        return floor_to(order.qty * fault.fraction, market.step)

    def _quote(self, symbol: str, book: Book) -> Quote:
        return Quote(self.name, symbol, book.bid, book.ask, at=time.monotonic())

    def _fill(self, fill: SimFill) -> Fill:
        return Fill(
            venue=self.name,
            symbol=fill.symbol,
            client_id=fill.client_id,
            trade_id=fill.trade_id,
            side=fill.side,
            qty=fill.qty,
            price=fill.price,
            fee=fill.fee,
            maker=fill.maker,
            at=datetime.fromtimestamp(fill.at, UTC),
        )


def order_state(order: SimOrder) -> OrderState:
    return OrderState(
        client_id=order.client_id,
        venue_order_id=order.order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        status=order.status,
        qty=order.qty,
        filled_qty=order.filled_qty,
        avg_price=order.avg_price,
        price=order.price,
        reduce_only=order.reduce_only,
        trigger_price=order.trigger_price,
    )
