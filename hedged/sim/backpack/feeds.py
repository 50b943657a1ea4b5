"""What the server pushes on its WebSockets, driven by the world's book changes and the
exchange's order changes."""

from __future__ import annotations

from collections.abc import Callable

from hedged.sim.backpack.events import (
    ORDER_UPDATE,
    POSITION_UPDATE,
    book_ticker,
    mark_price,
    order_update,
    position_event_kind,
    position_update,
    trade,
)
from hedged.sim.backpack.ids import OrderMeta
from hedged.sim.backpack.shapes import Json, book_mark, touch_qty
from hedged.sim.backpack.state import BackpackState, position_id
from hedged.sim.records import Book, SimFill, SimOrder


def book_frames(
    venue: BackpackState, symbol: str, book: Book, wanted: Callable[[str], bool]
) -> list[tuple[str, Json]]:
    """The bookTicker and markPrice pushes of `symbol` for this book: those `wanted`."""
    now = venue.now_us()
    frames = []
    if wanted(tickers := f"bookTicker.{symbol}"):
        qty = touch_qty(venue.exchange.markets[symbol])
        frames.append((tickers, book_ticker(symbol, book, qty, venue.book_updates, now)))
    if wanted(marks := f"markPrice.{symbol}"):
        mark = mark_price(symbol, book_mark(book), venue.index(symbol), venue.funding(symbol), now)
        frames.append((marks, mark))
    return frames


def start(venue: BackpackState) -> Callable[[], None]:
    """Follow the world and the exchange; the returned function stops following them."""

    def on_book(venue_name: str, symbol: str, book: Book) -> None:
        if venue_name == venue.name:
            venue.book_updates += 1
            if not venue.faults.stale:  # a STALE fault holds the price streams
                for stream, data in book_frames(venue, symbol, book, venue.hub.wanted):
                    venue.hub.publish(stream, data)

    def on_order(order: SimOrder, fill: SimFill | None, meta: OrderMeta) -> None:
        now = venue.now_us()
        symbol, account = order.symbol, order.account
        update = order_update(order, fill, meta, now)
        _publish_private(venue, account, ORDER_UPDATE, symbol, update)
        if fill is None:
            return
        if not venue.faults.stale:
            venue.hub.publish(f"trade.{symbol}", trade(fill, now))
        position = venue.exchange.position(account, symbol)
        previous = position.qty - fill.qty * fill.side.sign
        kind = position_event_kind(previous, position.qty)
        pushed = position_update(
            position, venue.mark(symbol), position_id(account, symbol), now, kind
        )
        _publish_private(venue, account, POSITION_UPDATE, symbol, pushed)

    venue.world.add_listener(on_book)
    venue.ids.add_listener(on_order)

    def stop() -> None:
        venue.world.remove_listener(on_book)
        venue.ids.detach()

    return stop


def _publish_private(
    venue: BackpackState, account: str, stream: str, symbol: str, data: Json
) -> None:
    """To every subscription of `account` to `stream` or `stream.<symbol>`."""
    for name in (stream, f"{stream}.{symbol}"):
        venue.hub.publish(name, data, account)
