"""One simulated perpetual-futures venue: accounts, order matching against a top of book,
positions, fees. No wire format here; the whole state round-trips through `to_dict`."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hedged.model import ZERO, OrderRequest, OrderStatus, OrderType, floor_to
from hedged.sim.funding import FundingPayment, FundingRate, payment_amount
from hedged.sim.records import (
    Book,
    Firing,
    MarketSpec,
    OrderRefused,
    PriceSource,
    RejectCode,
    SimFill,
    SimOrder,
    SimPosition,
    TriggerTerms,
    crosses,
    from_json,
    reached,
    to_json,
)

# Called on every order change: acceptance, a trigger firing, each fill (with that fill),
# cancel, expiry.
OrderListener = Callable[[SimOrder, SimFill | None], None]
# Asked as a trigger order fires (fault injection on the market order it becomes).
FiringGate = Callable[[SimOrder], Firing]
# Called with each funding payment as it is applied.
FundingListener = Callable[[FundingPayment], None]


class SimExchange:
    def __init__(
        self,
        name: str,
        markets: Mapping[str, MarketSpec],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.markets = dict(markets)
        self._clock = clock
        self._books: dict[str, Book] = {}
        self._marks: dict[str, Decimal] = {}
        self._indexes: dict[str, Decimal] = {}
        self._last_trades: dict[str, Decimal] = {}  # by symbol: the price of the last fill
        self._balances: dict[str, Decimal] = {}
        self._orders: dict[str, SimOrder] = {}  # by venue order id, in arrival order
        self._by_client_id: dict[tuple[str, str], str] = {}  # every client id ever accepted
        self._open_ids: dict[str, None] = {}  # an ordered set: time priority of resting orders
        self._fills: dict[str, list[SimFill]] = {}  # by venue order id
        self._positions: dict[tuple[str, str], SimPosition] = {}
        self._last_order_id = 0
        self._last_trade_id = 0
        self._listeners: list[OrderListener] = []
        self.firing_gate: FiringGate = lambda order: Firing()
        self._funding_rates: list[FundingRate] = []
        self._funding_payments: list[FundingPayment] = []
        self._funding_listeners: list[FundingListener] = []
        # Called with the symbol before every trade: settlements that are due are paid on
        # the positions as they were, before the trade moves one (the world sets it).
        self.before_trade: Callable[[str], None] = lambda symbol: None

    def now(self) -> float:
        return self._clock()

    # Accounts and market data

    def deposit(self, account: str, amount: Decimal) -> Decimal:
        self._balances[account] = self.balance(account) + amount
        return self._balances[account]

    def balance(self, account: str) -> Decimal:
        return self._balances.get(account, ZERO)

    def book(self, symbol: str) -> Book | None:
        return self._books.get(symbol)

    def set_book(
        self,
        symbol: str,
        bid: Decimal,
        ask: Decimal,
        mark: Decimal | None = None,
        index: Decimal | None = None,
    ) -> None:
        """Move the top of book, the mark price (by default its middle) and the index (by
        default the mark); resting limit orders it crosses fill at their own price, trigger
        orders whose price reaches their trigger fire."""
        if symbol not in self.markets:
            raise KeyError(f"{self.name}: unknown symbol {symbol}")
        if not bid < ask:
            raise ValueError(f"{self.name} {symbol}: bid {bid} must be below ask {ask}")
        book = self._books[symbol] = Book(bid, ask)
        self._marks[symbol] = book.mid if mark is None else mark
        self._indexes[symbol] = self._marks[symbol] if index is None else index
        fired = True
        while fired:  # a fired order's fill moves the last price, which may fire another
            fired = False
            for order_id in list(self._open_ids):
                order = self._orders[order_id]
                if not (order.is_open and order.symbol == symbol):
                    continue
                if order.crosses(book):
                    self._fill_resting(order)
                elif order.fires(self.price(symbol, order.trigger_by) or ZERO):
                    self._fire(order, book)
                    fired = True

    def mark(self, symbol: str) -> Decimal | None:
        return self._marks.get(symbol)

    def price(self, symbol: str, source: PriceSource) -> Decimal | None:
        """The price a trigger on `source` watches; the last trade is kept within the book
        (other traders trade at its touch), the middle of the book before any trade."""
        if source is PriceSource.MARK:
            return self._marks.get(symbol)
        if source is PriceSource.INDEX:
            return self._indexes.get(symbol, self._marks.get(symbol))
        book = self._books.get(symbol)
        if book is None:
            return None
        return min(max(self._last_trades.get(symbol, book.mid), book.bid), book.ask)

    def add_listener(self, listener: OrderListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: OrderListener) -> None:
        self._listeners.remove(listener)

    def add_funding_listener(self, listener: FundingListener) -> None:
        self._funding_listeners.append(listener)

    # Funding

    def settle_funding(
        self, symbol: str, rate: Decimal, at: float | None = None
    ) -> list[FundingPayment]:
        """Pay funding on every open position in `symbol` at its mark price: each account's
        balance moves by -qty x mark x rate (charged to the fee digits, like a fee)."""
        mark = self._marks.get(symbol)
        if mark is None:
            raise KeyError(f"{self.name}: no mark price for {symbol}")
        at = self._clock() if at is None else at
        self._funding_rates.append(FundingRate(symbol, rate, mark, at))
        places = self.markets[symbol].fee_places
        payments: list[FundingPayment] = []
        for (account, held), position in self._positions.items():
            if held != symbol or position.qty == 0:
                continue
            amount = payment_amount(position.qty, mark, rate)
            if places is not None:
                amount = amount.quantize(Decimal(1).scaleb(-places))
            self._balances[account] = self.balance(account) + amount
            payment_id = len(self._funding_payments) + len(payments) + 1
            payments.append(
                FundingPayment(payment_id, account, symbol, position.qty, mark, rate, amount, at)
            )
        self._funding_payments.extend(payments)
        for payment in payments:
            for listener in self._funding_listeners:
                listener(payment)
        return payments

    def funding_rates(self, symbol: str) -> list[FundingRate]:
        """Every settlement of `symbol`, oldest first."""
        return [rate for rate in self._funding_rates if rate.symbol == symbol]

    def funding_payments(self, account: str, symbol: str | None = None) -> list[FundingPayment]:
        return [
            p for p in self._funding_payments if p.account == account and symbol in (None, p.symbol)
        ]

    def open_interest(self, symbol: str) -> Decimal:
        """Contracts open in `symbol`: every account's position, long or short (the simulated
        book is the other side of each)."""
        held = (p.qty for (_, s), p in self._positions.items() if s == symbol)
        return sum((abs(qty) for qty in held), ZERO)

    def fills_of(self, symbol: str) -> list[SimFill]:
        """Every fill in `symbol`, every account's, in trade order (the public tape)."""
        fills = (f for fills in self._fills.values() for f in fills if f.symbol == symbol)
        return sorted(fills, key=lambda f: int(f.trade_id))

    # Orders

    def place(
        self,
        account: str,
        request: OrderRequest,
        *,
        max_fill: Decimal | None = None,
        trigger: TriggerTerms | None = None,
    ) -> SimOrder:
        """Accept `request` and match it, or raise OrderRefused. `max_fill` caps what it takes
        from the book this time (fault injection: a thinner book than the market's depth);
        `trigger` is what a STOP_MARKET watches and how it fires (default: a stop on the mark)."""
        market = self._market(request.symbol)
        terms = trigger or TriggerTerms()
        qty = self._admitted_qty(account, market, request, terms)
        now = self._clock()
        self._last_order_id += 1
        order = SimOrder(
            order_id=str(self._last_order_id),
            account=account,
            client_id=request.client_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            qty=qty,
            price=request.price if request.type is OrderType.LIMIT else None,
            reduce_only=request.reduce_only,
            post_only=request.post_only,
            status=OrderStatus.NEW,
            created_at=now,
            updated_at=now,
            trigger_price=request.trigger_price,
        )
        if request.type is OrderType.STOP_MARKET:
            order = replace(
                order,
                trigger_by=terms.source,
                take_profit=terms.take_profit,
                position_share=terms.position_share,
            )
        self._by_client_id[(account, order.client_id)] = order.order_id
        self._save(order)
        book = self._books.get(order.symbol)
        if book is not None and order.crosses(book):
            order = self._take(order, market, book, max_fill)
        if order.type is OrderType.MARKET and order.is_open:
            order = self._close(order, OrderStatus.EXPIRED)  # like an IOC: the rest expires
        return order

    def cancel(
        self,
        account: str,
        symbol: str,
        *,
        client_id: str | None = None,
        order_id: str | None = None,
    ) -> SimOrder:
        order = self.order(account, symbol, client_id=client_id, order_id=order_id)
        if order is None:
            raise OrderRefused(RejectCode.UNKNOWN_ORDER, f"{symbol}: no such order")
        if not order.is_open:
            raise OrderRefused(
                RejectCode.ORDER_CLOSED, f"order {order.order_id} is already {order.status}"
            )
        return self._close(order, OrderStatus.CANCELED)

    def order(
        self,
        account: str,
        symbol: str,
        *,
        client_id: str | None = None,
        order_id: str | None = None,
    ) -> SimOrder | None:
        """The order by exactly one of client id or venue order id, open or finished."""
        if (client_id is None) == (order_id is None):
            raise TypeError("give exactly one of client_id and order_id")
        if client_id is not None:
            order_id = self._by_client_id.get((account, client_id))
        order = self._orders.get(order_id or "")
        if order is None or order.account != account or order.symbol != symbol:
            return None
        return order

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        orders = (self._orders[order_id] for order_id in self._open_ids)
        return [o for o in orders if o.account == account and symbol in (None, o.symbol)]

    def fills(
        self,
        account: str,
        symbol: str,
        *,
        client_id: str | None = None,
        order_id: str | None = None,
    ) -> list[SimFill]:
        order = self.order(account, symbol, client_id=client_id, order_id=order_id)
        return list(self._fills.get(order.order_id, [])) if order else []

    def position(self, account: str, symbol: str) -> SimPosition:
        return self._positions.get((account, symbol), SimPosition(account, symbol))

    # State

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (Decimals as strings)."""
        return {
            "name": self.name,
            "markets": [to_json(market) for market in self.markets.values()],
            "books": {symbol: to_json(book) for symbol, book in self._books.items()},
            "marks": {symbol: str(mark) for symbol, mark in self._marks.items()},
            "indexes": {symbol: str(index) for symbol, index in self._indexes.items()},
            "last_trades": {symbol: str(last) for symbol, last in self._last_trades.items()},
            "balances": {account: str(amount) for account, amount in self._balances.items()},
            "orders": [to_json(order) for order in self._orders.values()],
            "fills": [to_json(fill) for fills in self._fills.values() for fill in fills],
            "positions": [to_json(position) for position in self._positions.values()],
            "last_order_id": self._last_order_id,
            "last_trade_id": self._last_trade_id,
            "funding_rates": [to_json(rate) for rate in self._funding_rates],
            "funding_payments": [to_json(payment) for payment in self._funding_payments],
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], clock: Callable[[], float] = time.time
    ) -> SimExchange:
        markets = [from_json(MarketSpec, market) for market in data["markets"]]
        exchange = cls(data["name"], {market.symbol: market for market in markets}, clock)
        exchange._books = {s: from_json(Book, book) for s, book in data["books"].items()}
        exchange._marks = {s: Decimal(m) for s, m in data.get("marks", {}).items()}
        exchange._indexes = {s: Decimal(i) for s, i in data.get("indexes", {}).items()}
        exchange._last_trades = {s: Decimal(p) for s, p in data.get("last_trades", {}).items()}
        exchange._balances = {a: Decimal(amount) for a, amount in data["balances"].items()}
        for order in (from_json(SimOrder, item) for item in data["orders"]):
            exchange._orders[order.order_id] = order
            exchange._by_client_id[(order.account, order.client_id)] = order.order_id
            if order.is_open:
                exchange._open_ids[order.order_id] = None
        for fill in (from_json(SimFill, item) for item in data["fills"]):
            exchange._fills.setdefault(fill.order_id, []).append(fill)
        for position in (from_json(SimPosition, item) for item in data["positions"]):
            exchange._positions[(position.account, position.symbol)] = position
        exchange._last_order_id = data["last_order_id"]
        exchange._last_trade_id = data["last_trade_id"]
        exchange._funding_rates = [from_json(FundingRate, r) for r in data.get("funding_rates", [])]
        exchange._funding_payments = [
            from_json(FundingPayment, p) for p in data.get("funding_payments", [])
        ]
        return exchange

    # Matching

    def _market(self, symbol: str) -> MarketSpec:
        market = self.markets.get(symbol)
        if market is None:
            raise OrderRefused(RejectCode.UNKNOWN_SYMBOL, f"{self.name}: unknown symbol {symbol}")
        return market

    def _admitted_qty(
        self, account: str, market: MarketSpec, request: OrderRequest, terms: TriggerTerms
    ) -> Decimal:
        """The quantity the order is accepted with (a reduce-only order is trimmed to the
        position; one sized by a position share is 0 until it fires), or OrderRefused; checks
        run in the order a real venue runs them."""
        symbol, qty = market.symbol, request.qty
        if (account, request.client_id) in self._by_client_id:
            raise _refusal(market, RejectCode.DUPLICATE_CLIENT_ID, f"{request.client_id} is taken")
        sized_later = request.type is OrderType.STOP_MARKET and terms.position_share is not None
        if sized_later and not request.reduce_only:
            raise _refusal(market, RejectCode.REDUCE_ONLY, "a position share must reduce")
        if not sized_later:
            _check_qty(market, qty)
        price = self._reference_price(market, request, terms)
        if not request.reduce_only and qty * price < market.min_notional:
            notional = f"notional {qty * price} ({qty} x {price})"
            raise _refusal(market, RejectCode.MIN_NOTIONAL, f"{notional} < {market.min_notional}")
        book = self._books.get(symbol)
        limit = request.price if request.type is OrderType.LIMIT else None
        if request.post_only and book is not None and crosses(request.side, limit, book):
            raise _refusal(market, RejectCode.POST_ONLY_CROSS, "post-only order would take")
        if not request.reduce_only:
            return qty
        reducible = self.position(account, symbol).reducible(request.side)
        if reducible == 0:
            raise _refusal(market, RejectCode.REDUCE_ONLY, f"{request.side} would not reduce")
        return ZERO if sized_later else min(qty, reducible)

    def _reference_price(
        self, market: MarketSpec, request: OrderRequest, terms: TriggerTerms
    ) -> Decimal:
        """The price the minimum notional is checked at: the limit, a trigger, or the touch.
        A trigger order its price has already reached is refused (it would fire at once)."""
        if request.type is OrderType.MARKET:
            book = self._books.get(market.symbol)
            if book is None:
                raise _refusal(market, RejectCode.NO_BOOK, "no price to fill a market order at")
            return book.touch(request.side)
        stop = request.type is OrderType.STOP_MARKET
        price, what = (request.trigger_price, "trigger") if stop else (request.price, "limit")
        if price is None or price <= 0:
            raise _refusal(market, RejectCode.BAD_PRICE, f"{what} price {price} is not > 0")
        if price % market.tick != 0:
            raise _refusal(
                market, RejectCode.BAD_TICK, f"{what} price {price} is off tick {market.tick}"
            )
        watched = self.price(market.symbol, terms.source) if stop else None
        if watched is not None and reached(request.side, terms.take_profit, price, watched):
            message = f"{terms.source} price {watched} is past {price}"
            raise _refusal(market, RejectCode.WOULD_TRIGGER, message)
        return price

    def _take(
        self, order: SimOrder, market: MarketSpec, book: Book, max_fill: Decimal | None
    ) -> SimOrder:
        qty = order.remaining
        for cap in (market.depth_qty, max_fill):
            if cap is not None:
                qty = min(qty, cap)
        if qty <= 0:
            return order
        return self._fill(order, qty, book.touch(order.side), maker=False)

    def _fill_resting(self, order: SimOrder) -> None:
        assert order.price is not None  # only limit orders rest
        qty = order.remaining
        if order.reduce_only:
            # The position may have shrunk since the order was placed: never flip it.
            qty = min(qty, self.position(order.account, order.symbol).reducible(order.side))
        if qty > 0:
            order = self._fill(order, qty, order.price, maker=True)
        if order.is_open:
            self._close(order, OrderStatus.EXPIRED)

    def _fire(self, order: SimOrder, book: Book) -> None:
        """A trigger order whose price is reached becomes a market order under its own id
        (one change, `triggered_at` set, unless the firing gate refuses it: REJECTED). What
        the book, the gate and (reduce-only) the position allow fills; the rest expires."""
        market = self.markets[order.symbol]
        now = self._clock()
        reducible = self.position(order.account, order.symbol).reducible(order.side)
        if order.position_share is not None:
            order = replace(order, qty=floor_to(reducible * order.position_share, market.step))
        order = replace(order, triggered_at=now, updated_at=now)
        firing = self.firing_gate(order)
        if firing.refused:
            self._close(order, OrderStatus.REJECTED)
            return
        self._save(order)
        caps = [reducible] if order.reduce_only else []
        if firing.fill_fraction is not None:
            caps.append(floor_to(order.qty * firing.fill_fraction, market.step))
        order = self._take(order, market, book, min(caps, default=None))
        if order.is_open:
            self._close(order, OrderStatus.EXPIRED)

    def _fill(self, order: SimOrder, qty: Decimal, price: Decimal, *, maker: bool) -> SimOrder:
        self.before_trade(order.symbol)
        market = self.markets[order.symbol]
        fee = qty * price * (market.maker_fee if maker else market.taker_fee)
        if market.fee_places is not None:  # charged as the venue reports it, to the digit
            fee = fee.quantize(Decimal(1).scaleb(-market.fee_places))
        key = (order.account, order.symbol)
        position, realized = self.position(*key).after_fill(order.side, qty, price)
        self._positions[key] = position
        self._balances[order.account] = self.balance(order.account) + realized - fee
        now = self._clock()
        self._last_trade_id += 1
        fill = SimFill(
            trade_id=str(self._last_trade_id),
            order_id=order.order_id,
            account=order.account,
            client_id=order.client_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=fee,
            maker=maker,
            realized_pnl=realized,
            at=now,
        )
        self._fills.setdefault(order.order_id, []).append(fill)
        self._last_trades[order.symbol] = price
        filled = order.filled_qty + qty
        order = replace(
            order,
            filled_qty=filled,
            filled_notional=order.filled_notional + qty * price,
            status=OrderStatus.FILLED if filled == order.qty else OrderStatus.PARTIALLY_FILLED,
            updated_at=now,
        )
        self._save(order, fill)
        return order

    def _close(self, order: SimOrder, status: OrderStatus) -> SimOrder:
        order = replace(order, status=status, updated_at=self._clock())
        self._save(order)
        return order

    def _save(self, order: SimOrder, fill: SimFill | None = None) -> None:
        self._orders[order.order_id] = order
        if order.is_open:
            self._open_ids[order.order_id] = None
        else:
            self._open_ids.pop(order.order_id, None)
        for listener in self._listeners:
            listener(order, fill)


def _check_qty(market: MarketSpec, qty: Decimal) -> None:
    if qty % market.step != 0:
        raise _refusal(market, RejectCode.BAD_STEP, f"quantity {qty} is off step {market.step}")
    if qty < market.min_qty:
        raise _refusal(market, RejectCode.MIN_QTY, f"quantity {qty} < {market.min_qty}")
    if market.max_qty is not None and qty > market.max_qty:
        raise _refusal(market, RejectCode.MAX_QTY, f"quantity {qty} > {market.max_qty}")


def _refusal(market: MarketSpec, code: RejectCode, message: str) -> OrderRefused:
    return OrderRefused(code, f"{market.symbol}: {message}")
