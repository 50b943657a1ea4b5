"""The Backpack venue (the long leg): `Venue` over Backpack's REST and WebSocket APIs.

Orders are sent once and classified (see `wire` for the table); an ambiguous one is
resolved by `query`, which looks at the book first and then at the order history, because
`GET /api/v1/order` only knows resting orders. `signature_window` is a write's window
(`window_ms`, or less once fenced): a request is signed when `place`/`cancel` is called, and
the venue refuses it one window later (EXPIRED, like any refusal for its timestamp).
A request that never left is a definite Rejected too: INVALID_REQUEST (client id not a uint32,
limit without a price) or NOT_SENT (a 429 cooldown longer than half the window).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import ParamSpec, TypeVar

from hedged.adapters import fields
from hedged.adapters.backpack.auth import Signer
from hedged.adapters.backpack.http import DEFAULT_POLICY, BackpackHttp
from hedged.adapters.backpack.stream import DEFAULT_STREAM_POLICY, BackpackStream
from hedged.adapters.backpack.wire import (
    Market,
    Param,
    classify_write,
    history_match,
    is_clock_error,
    order_params,
    parse_book_ticker,
    parse_depth,
    parse_error,
    parse_fills,
    parse_funding_info,
    parse_funding_payments,
    parse_market,
    parse_order,
    parse_order_update,
    parse_orders,
    parse_position,
    wire_client_id,
)
from hedged.adapters.base import (
    EXPIRED,
    NOT_SENT,
    Ambiguous,
    MaySend,
    Outcome,
    ReadyOrder,
    ReconnectHook,
    Rejected,
    VenueError,
    refused,
)
from hedged.adapters.clock import ServerClock
from hedged.adapters.errors import NotSent, TransportError, WireError
from hedged.adapters.fields import decode
from hedged.adapters.http import Clock, HttpPolicy, Reply
from hedged.adapters.ws import StreamPolicy
from hedged.config import BackpackConfig
from hedged.ids import backpack_client_id, backpack_owns
from hedged.model import (
    Fill,
    FundingInfo,
    FundingPayment,
    OrderRequest,
    OrderState,
    Position,
    Quote,
    SymbolRules,
)
from hedged.secrets import BackpackCredentials

log = logging.getLogger(__name__)

# Backpack publishes no minimum notional (only minQuantity); 5 USDC keeps entry sizing on the
# safe side and matches the simulator's market (only opening sizes use it).
DEFAULT_MIN_NOTIONAL = Decimal(5)
PAGE = 1000  # history page size (the venue's maximum)
HISTORY_PAGES = 3  # finished orders are searched among the newest PAGE * HISTORY_PAGES
FILL_PAGES = 5
FUNDING_PAGES = 10  # 10,000 hourly payments: over a year of history
PERP = "PERP"
ORDER_PATH = "/api/v1/order"
P = ParamSpec("P")
T = TypeVar("T")


class BackpackVenue:
    name = "backpack"

    def __init__(
        self,
        config: BackpackConfig,
        credentials: BackpackCredentials,
        symbols: str | Sequence[str],
        *,
        clock: Clock = time.time,
        http_policy: HttpPolicy = DEFAULT_POLICY,
        stream_policy: StreamPolicy = DEFAULT_STREAM_POLICY,
        min_notional: Decimal = DEFAULT_MIN_NOTIONAL,
    ) -> None:
        self.symbols = (symbols,) if isinstance(symbols, str) else tuple(symbols)  # traded
        self.symbol = self.symbols[0]
        self.signature_window = config.window_ms / 1000
        self.min_notional = min_notional
        self._auth = Signer(credentials, config.window_ms, ServerClock(clock))
        self._http = BackpackHttp(config.base_url, self._auth, http_policy)
        self._stream = BackpackStream(
            config.ws_url,
            lambda: self._http.session,
            self._auth.subscription,
            stream_policy,
            on_auth_error=self._http.sync_time,
            scrub=self._auth.scrub,
            label=self.name,
        )
        self._markets: dict[str, Market] = {}

    def __repr__(self) -> str:
        url = self._http.base_url
        return f"BackpackVenue(name={self.name!r}, symbols={self.symbols!r}, url={url!r})"

    # -- ids -------------------------------------------------------------------------------

    def client_id(self, namespace: int, seq: int) -> str:
        return backpack_client_id(namespace, seq)

    def owns(self, namespace: int, client_id: str) -> bool:
        return backpack_owns(namespace, client_id)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the session, measure the clock offset, load each traded market and check it
        is a perp."""
        self._auth.check()
        await self._http.open()
        await self._http.sync_time()
        for symbol in self.symbols:
            market = await self._market(symbol)
            if market.market_type != PERP:
                raise VenueError(
                    f"backpack: {symbol} is a {market.market_type} market, not a {PERP}"
                )

    async def close(self) -> None:
        await self._stream.close()
        await self._http.close()

    def fence(self, may_send: MaySend, window: float) -> None:
        self._http.may_send = may_send
        self.signature_window = self._auth.bound_writes(window)

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Call `hook` after every WebSocket reconnection (streams do not replay) with the
        streams the socket carries: "backpack account.orderUpdate.<sym>+bookTicker.<sym>"."""
        self._stream.on_reconnect(hook)

    @property
    def stream(self) -> BackpackStream:
        return self._stream

    @property
    def clock_offset_ms(self) -> int:
        return self._auth.clock.offset_us // 1000

    # -- market data -----------------------------------------------------------------------

    async def rules(self, symbol: str) -> SymbolRules:
        market = self._markets.get(symbol) or await self._market(symbol)
        return market.rules

    async def quote(self, symbol: str) -> Quote:
        body = await self._json("GET", "/api/v1/depth", {"symbol": symbol, "limit": 5})
        bid, ask = parsed("depth", parse_depth, body)
        return Quote(self.name, symbol, bid, ask, time.monotonic())

    async def quotes(self, *symbols: str) -> AsyncGenerator[Quote, None]:
        """Each symbol's `bookTicker.<symbol>` updates, all on the client's one connection,
        which reconnects by itself."""
        streams = [f"bookTicker.{symbol}" for symbol in symbols]
        sub = await self._stream.subscribe(*streams, latest_only=True)
        wanted = set(symbols)
        try:
            while (data := await sub.get()) is not None:
                try:
                    stream_symbol, bid, ask = parse_book_ticker(data)
                except WireError as e:
                    log.warning("backpack bookTicker unreadable: %s", e)
                    continue
                if stream_symbol in wanted:
                    yield Quote(self.name, stream_symbol, bid, ask, time.monotonic())
        finally:
            await self._stream.unsubscribe(sub)

    async def order_updates(self, symbol: str | None = None) -> AsyncGenerator[OrderState, None]:
        """Our orders' changes from `account.orderUpdate.<symbol>` (orders with a clientId),
        or from `account.orderUpdate` (every symbol) when the client trades several."""
        stream = f"account.orderUpdate.{symbol or self.symbol}"
        if symbol is None and len(self.symbols) > 1:
            stream = "account.orderUpdate"
        sub = await self._stream.subscribe(stream, private=True)
        try:
            while (data := await sub.get()) is not None:
                try:
                    state = parse_order_update(data)
                except WireError as e:
                    log.warning("backpack orderUpdate unreadable: %s", e)
                    continue
                if state is not None:
                    yield state
        finally:
            await self._stream.unsubscribe(sub)

    # -- orders ----------------------------------------------------------------------------

    def crowded(self) -> bool:
        return self._http.pacer.crowded()

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        try:
            params = order_params(order)
        except (ValueError, KeyError) as e:
            return refused(Rejected("INVALID_REQUEST", f"not sent: {e}"))
        return self._writer("POST", params, "orderExecute", order.client_id, order.symbol)

    async def place(self, order: OrderRequest) -> Outcome:
        return await self.prepare(order)()

    async def cancel(self, symbol: str, client_id: str) -> Outcome:
        try:
            params: dict[str, Param] = {"clientId": wire_client_id(client_id), "symbol": symbol}
        except ValueError as e:
            return Rejected("INVALID_REQUEST", f"not sent: {e}")
        return await self._writer("DELETE", params, "orderCancel", client_id, symbol)()

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        try:
            wire_id = wire_client_id(client_id)
        except ValueError:
            return None  # not a uint32: Backpack cannot have it
        response = await self._http.read(
            "GET",
            ORDER_PATH,
            {"clientId": wire_id, "symbol": symbol},
            "orderQuery",
            not_found_ok=True,
        )
        if response.ok:
            state = parsed("order", parse_order, parsed("order", decode, response.text))
            if state.client_id == client_id:
                return state
            raise VenueError(f"backpack: order query for {client_id} answered another order")
        return await self._finished(symbol, client_id)

    async def open_orders(self, symbol: str) -> list[OrderState]:
        body = await self._json("GET", "/api/v1/orders", {"symbol": symbol}, "orderQueryAll")
        return parsed("open orders", parse_orders, body)

    async def position(self, symbol: str) -> Position:
        response = await self._http.read(
            "GET", "/api/v1/position", {"symbol": symbol}, "positionQuery", not_found_ok=True
        )
        if not response.ok:
            return Position(self.name, symbol, Decimal(0))
        body = parsed("position", decode, response.text)
        qty, entry = parsed("position", parse_position, body, symbol)
        return Position(self.name, symbol, qty, entry)

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        """The trades of our order, found by its venue id (the fill history has no clientId
        filter); fees in the quote asset."""
        state = await self.query(symbol, client_id)
        if state is None or state.filled_qty == 0:
            return []
        market = self._markets.get(symbol) or await self._market(symbol)
        fills: list[Fill] = []
        for page in range(FILL_PAGES):
            body = await self._json(
                "GET",
                "/wapi/v1/history/fills",
                {
                    "orderId": state.venue_order_id,
                    "symbol": symbol,
                    "limit": PAGE,
                    "offset": page * PAGE,
                    "sortDirection": "Asc",
                },
                "fillHistoryQueryAll",
            )
            count, found = parsed(
                "fills",
                parse_fills,
                body,
                order_id=state.venue_order_id,
                client_id=client_id,
                base=market.base,
                quote=market.quote,
                venue=self.name,
            )
            fills.extend(found)
            if count < PAGE:
                break
        return fills

    # -- funding ---------------------------------------------------------------------------

    async def funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """The funding history from `since` on, oldest first: read newest first, page by page,
        until a page reaches back before `since` or the history ends."""
        found: dict[str, FundingPayment] = {}
        for page in range(FUNDING_PAGES):
            body = await self._json(
                "GET",
                "/wapi/v1/history/funding",
                {"symbol": symbol, "limit": PAGE, "offset": page * PAGE, "sortDirection": "Desc"},
                "fundingHistoryQueryAll",
            )
            payments = parsed(
                "funding history", parse_funding_payments, body, symbol=symbol, venue=self.name
            )
            found.update((p.payment_id, p) for p in payments if p.at >= since)
            if len(parsed("funding history", fields.array, body, "funding")) < PAGE or any(
                p.at < since for p in payments
            ):
                break
        return sorted(found.values(), key=lambda p: p.at)

    async def funding_info(self, symbol: str) -> FundingInfo:
        """`/api/v1/markPrices` (rate, next settlement, mark) and the market's interval, read
        live: the venue may change it."""
        market = await self._market(symbol)
        if market.funding_interval_ms is None:
            raise VenueError(f"backpack: {symbol} has no funding interval (not a perpetual?)")
        body = await self._json("GET", "/api/v1/markPrices", {"symbol": symbol})
        return parsed("markPrices", parse_funding_info, body, symbol, market.funding_interval_ms)

    # -- internals -------------------------------------------------------------------------

    def _writer(
        self, method: str, params: dict[str, Param], instruction: str, client_id: str, symbol: str
    ) -> ReadyOrder:
        what = f"{instruction} {client_id}"
        try:
            write = self._http.prepare_write(method, ORDER_PATH, params, instruction)
        except NotSent as e:
            return refused(self._not_sent(what, e))
        return functools.partial(self._write, write, what, client_id, symbol)

    def _not_sent(self, what: str, e: NotSent) -> Rejected:
        log.warning("backpack %s not sent: %s", what, e)
        return Rejected(NOT_SENT, str(e))

    async def _write(
        self, write: Callable[[], Awaitable[Reply]], what: str, client_id: str, symbol: str
    ) -> Outcome:
        try:
            response = await write()
        except NotSent as e:
            return self._not_sent(what, e)
        except TransportError as e:
            return Ambiguous(f"no answer: {e}")
        outcome = classify_write(response.status, response.text, client_id=client_id, symbol=symbol)
        if isinstance(outcome, Rejected) and is_clock_error(parse_error(response.text)):
            outcome = Rejected(EXPIRED, outcome.message)
            try:
                await self._http.sync_time()
            except VenueError as e:
                log.warning("backpack clock resync failed: %s", e)
        log.info("backpack %s -> HTTP %s: %s", what, response.status, type(outcome).__name__)
        return outcome

    async def _finished(self, symbol: str, client_id: str) -> OrderState | None:
        """The newest order with this clientId in the order history (filled, cancelled or
        expired orders are no longer on the book)."""
        for page in range(HISTORY_PAGES):
            response = await self._http.read(
                "GET",
                "/wapi/v1/history/orders",
                {"symbol": symbol, "limit": PAGE, "offset": page * PAGE, "sortDirection": "Desc"},
                "orderHistoryQueryAll",
                not_found_ok=True,
            )
            if not response.ok:
                return None
            body = parsed("order history", decode, response.text)
            count, state = parsed("order history", history_match, body, client_id)
            if state is not None:
                return state
            if count < PAGE:
                break
        return None

    async def _market(self, symbol: str) -> Market:
        body = await self._json("GET", "/api/v1/market", {"symbol": symbol})
        market = parsed("market", parse_market, body, self.min_notional)
        if market.rules.symbol != symbol:
            raise VenueError(f"backpack: asked for market {symbol}, got {market.rules.symbol}")
        self._markets[symbol] = market
        return market

    async def _json(
        self, method: str, path: str, params: dict[str, Param], instruction: str | None = None
    ) -> object:
        response = await self._http.read(method, path, params, instruction)
        return parsed(path, decode, response.text)


def parsed(what: str, parse: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`parse(...)`, with an unreadable answer turned into VenueError."""
    try:
        return parse(*args, **kwargs)
    except WireError as e:
        raise VenueError(f"backpack {what}: unreadable answer: {e}") from None
