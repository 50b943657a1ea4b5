"""What the server pushes on its WebSockets, driven by the world's book changes, the
exchange's order changes and lapsed listen keys."""

from __future__ import annotations

from collections.abc import Callable

from hedged.sim.aster.events import (
    account_update,
    agg_trade,
    book_ticker,
    mark_price_update,
    order_trade_update,
)
from hedged.sim.aster.shapes import ms
from hedged.sim.aster.state import AsterState, ListenKey, split_core
from hedged.sim.faults import WireFaults
from hedged.sim.funding import FundingPayment
from hedged.sim.hub import Hub
from hedged.sim.records import Book, SimFill, SimOrder


def start(
    state: AsterState, hub: Hub, faults: WireFaults, *, listen_keys: bool = True
) -> Callable[[], None]:
    """Follow the world and the exchange for the state's symbol (and, with `listen_keys`,
    the account's lapsed listen keys: one desk of a venue does); the returned function stops
    following the world."""
    stream = state.symbol.lower()

    def on_book(venue: str, symbol: str, book: Book) -> None:
        if state.closed or faults.stale:
            return
        now = state.clock()
        if hub.wanted(tickers := f"{stream}@bookTicker", "!bookTicker"):
            ticker = book_ticker(symbol, book, state.top_qty(), state.update_id, now)
            hub.publish(tickers, ticker)
            hub.publish("!bookTicker", ticker)
        if hub.wanted(marks := f"{stream}@markPrice", f"{marks}@1s"):
            funding = state.funding()
            mark = mark_price_update(
                symbol, state.mark(), state.index(), funding.rate, funding.next_at, now
            )
            hub.publish(marks, mark)
            hub.publish(f"{marks}@1s", mark)

    def on_order(order: SimOrder, fill: SimFill | None) -> None:
        if state.closed or order.symbol != state.symbol:
            return
        now = state.clock()
        if fill is not None and not faults.stale:
            hub.publish(f"{stream}@aggTrade", agg_trade(fill, now))
        account, _ = split_core(order.account)
        key = state.listen_key(account)
        if key is None:
            return
        hub.publish(key, order_trade_update(state.view(order), fill, now))
        if fill is not None:
            balance = state.wallet(account).balance
            hub.publish(key, account_update(balance, state.position_row(order.account), now))

    def on_funding(payment: FundingPayment) -> None:
        """Binance-style: a FUNDING_FEE account update with the payment as balance change."""
        if state.closed or payment.symbol != state.symbol:
            return
        account, _ = split_core(payment.account)
        key = state.listen_key(account)
        if key is None:
            return
        balance, row, now = (
            state.wallet(account).balance,
            state.position_row(payment.account),
            state.clock(),
        )
        update = account_update(balance, row, now, reason="FUNDING_FEE", change=payment.amount)
        hub.publish(key, update)

    def on_key_expired(key: ListenKey) -> None:
        event = {"e": "listenKeyExpired", "E": ms(state.clock()), "listenKey": key.key}
        hub.publish(key.key, event)

    state.exchange.add_listener(on_order)
    state.exchange.add_funding_listener(on_funding)
    state.world.add_listener(on_book, (state.venue, state.symbol))
    if listen_keys:
        state.key_expired.append(on_key_expired)
    return lambda: state.world.remove_listener(on_book)
