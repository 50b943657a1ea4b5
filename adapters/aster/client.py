"""The Aster venue client: the `Venue` port over Aster's REST API and WebSockets.

One concern per module: signing and the venue clock (`auth`, over `signing`), REST and rate
limits (`http`), JSON <-> model mapping and the error table (`wire`), WebSockets (`stream`).
This module wires them into the port.

Outcome classes (docs/venues/aster.md#errors), per new-order and cancel reply:
  Accepted   2xx whose body is our order (same client id and symbol).
  Rejected   4xx with a code in `wire.REJECT_CODES`, incl. 429/418 with -1003/-1015
             (the venue refuses those before acting; 4xx means "the sender's side"), and
             requests this client refused to send (invalid request, rate-limit back-off).
  Ambiguous  everything else: timeout, reset, truncated or unreadable body, any 5xx (503 is
             "execution status unknown"), an unknown code, -4225 (a duplicate nonce means a
             replay), a 2xx that is not our order. Never resent; resolve with `query`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from hedged.adapters.aster.auth import (
    BOOK_TICKER_PATH,
    EXCHANGE_INFO_PATH,
    FUNDING_INFO_PATH,
    PREMIUM_INDEX_PATH,
    Params,
    make_signer,
)
from hedged.adapters.aster.http import DEFAULT_POLICY, AsterHttp, Security
from hedged.adapters.aster.stream import DEFAULT_STREAM_POLICY, UserStream, quote_stream
from hedged.adapters.aster.wire import (
    CLOCK_SKEW,
    NO_NEED_TO_CHANGE_MARGIN_TYPE,
    NO_SUCH_ORDER,
    book_quote,
    classify_write,
    dual_side,
    fills,
    fmt,
    funding_info,
    funding_payments,
    income_times,
    open_orders,
    order_state,
    order_time_ms,
    position,
    symbol_rules,
    trade_ids,
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
from hedged.adapters.errors import ApiError, NotSent, TransportError, WireError
from hedged.adapters.http import HttpPolicy, Reply, Retry
from hedged.adapters.ws import ReconnectHooks, StreamPolicy
from hedged.config import AsterConfig
from hedged.ids import aster_client_id, aster_owns
from hedged.model import (
    Fill,
    FundingInfo,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderType,
    Position,
    Quote,
    Side,
    SymbolRules,
)
from hedged.secrets import AsterCredentials

log = logging.getLogger(__name__)

# Start-up reads may wait out the request-weight budget's whole minute: nothing else waits on
# them, and a daemon restarted right after a busy minute should start, not exit.
START_WAIT = 60.0

# Margin type cannot change while a position or open orders exist: keep the current one, so
# that a restart with an open round still starts.
MARGIN_TYPE_LOCKED = (-4047, -4048)
TRADES_PAGE = 1000
MAX_TRADE_PAGES = 10
INCOME_PAGE = 1000  # the venue's maximum
INCOME_WINDOW_MS = 7 * 24 * 3600 * 1000  # the longest span one income read answers
START_SLACK_MS = 1000


class AsterVenue:
    """`Venue` for one Aster account. `signature_window`: a write's `recvWindow` / 1000 with
    V1 (`recv_window_ms`, or less once fenced); with V3, the nonce window (60 s,
    `auth.V3_NONCE_WINDOW_S`)."""

    name = "aster"

    def __init__(
        self,
        config: AsterConfig,
        credentials: AsterCredentials,
        symbols: str | Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
        http_policy: HttpPolicy = DEFAULT_POLICY,
        stream_policy: StreamPolicy = DEFAULT_STREAM_POLICY,
        chain_id: int | None = None,
        margin_type: str = "CROSSED",
    ) -> None:
        self.symbols = (symbols,) if isinstance(symbols, str) else tuple(symbols)  # traded
        self.symbol = self.symbols[0]
        self.leverage = config.leverage
        self.margin_type = margin_type
        self.clock = ServerClock(clock)
        signer = make_signer(config, credentials, self.clock, chain_id)
        self.auth = signer.version
        self.signature_window: float = signer.window_s
        self._paths = signer.paths
        self._http = AsterHttp(config.base_url, signer, self.clock, http_policy)
        self._ws_url = config.ws_url
        self._stream_policy = stream_policy
        self._hooks = ReconnectHooks(self.name)
        self._closed = False
        self._user = UserStream(
            self._http, config.ws_url, self._stream_policy, self._hooks, self._is_closed
        )
        self._rules: dict[str, SymbolRules] = {}
        self._hedge_mode: bool | None = None

    def __repr__(self) -> str:
        return (
            f"AsterVenue(name={self.name!r}, symbols={self.symbols!r}, auth={self.auth!r}, "
            f"base_url={self._http.base_url!r})"
        )

    # --- identity -------------------------------------------------------------------------

    def client_id(self, namespace: int, seq: int) -> str:
        return aster_client_id(namespace, seq)

    def owns(self, namespace: int, client_id: str) -> bool:
        return aster_owns(namespace, client_id)

    @property
    def hedge_mode(self) -> bool:
        """Whether the account is in hedge (dual-side) position mode, as read at start()."""
        if self._hedge_mode is None:
            raise VenueError(f"{self.name}: not started")
        return self._hedge_mode

    @property
    def used_weight(self) -> int:
        """Request weight used in the venue's current minute (last `X-MBX-USED-WEIGHT-1M`)."""
        return self._http.budget.used

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Clock offset, position mode, and each traded symbol's rules, leverage and margin
        type."""
        self._closed = False
        await self._http.open()
        try:
            await self._sync_time()
            for symbol in self.symbols:
                self._rules[symbol] = await self._load_rules(symbol, START_WAIT)
            dual = await self._http.read("GET", self._paths.dual, weight=30, max_wait=START_WAIT)
            self._hedge_mode = dual_side(dual)
            for symbol in self.symbols:
                await self._http.read(
                    "POST",
                    self._paths.leverage,
                    [("symbol", symbol), ("leverage", str(self.leverage))],
                    max_wait=START_WAIT,
                )
                await self._set_margin_type(symbol)
        except BaseException:
            await self._http.close()
            raise
        log.info(
            "%s: started (%s auth, %s mode, clock offset %d ms)",
            self.name,
            self.auth,
            "hedge" if self._hedge_mode else "one-way",
            self.clock.offset_us // 1000,
        )

    async def close(self) -> None:
        self._closed = True
        await self._user.close()
        self._hooks.cancel()
        await self._http.close()

    def _is_closed(self) -> bool:
        return self._closed

    async def _sync_time(self) -> None:
        async def attempt() -> Retry | None:
            try:
                await self._http.sync_time()
            except VenueError as e:
                return Retry(str(e))
            return None

        try:
            await self._http.retry("clock sync", attempt)
        except VenueError as e:
            raise VenueError(f"{self.name}: cannot read the server time: {e}") from None

    async def _set_margin_type(self, symbol: str) -> None:
        params = [("symbol", symbol), ("marginType", self.margin_type)]
        try:
            await self._http.read("POST", self._paths.margin_type, params, max_wait=START_WAIT)
        except ApiError as e:
            if e.code == NO_NEED_TO_CHANGE_MARGIN_TYPE:
                return
            if e.code in MARGIN_TYPE_LOCKED:
                log.warning("%s: margin type left unchanged: %s", self.name, e.msg)
                return
            raise

    # --- market data ----------------------------------------------------------------------

    async def _load_rules(self, symbol: str, max_wait: float | None = None) -> SymbolRules:
        info = await self._http.read(
            "GET", EXCHANGE_INFO_PATH, security=Security.PUBLIC, max_wait=max_wait
        )
        return symbol_rules(info, symbol)

    async def rules(self, symbol: str) -> SymbolRules:
        if symbol not in self._rules:
            self._rules[symbol] = await self._load_rules(symbol)
        return self._rules[symbol]

    async def quote(self, symbol: str) -> Quote:
        reply = await self._http.read(
            "GET", BOOK_TICKER_PATH, [("symbol", symbol)], security=Security.PUBLIC
        )
        quote = book_quote(self.name, reply, time.monotonic())
        if quote.symbol != symbol:
            raise WireError(f"bookTicker for {quote.symbol}, asked for {symbol}")
        return quote

    def quotes(self, *symbols: str) -> AsyncGenerator[Quote, None]:
        """Top of book of every symbol on one connection (a combined stream for several): a
        REST snapshot of each on every (re)connection, then `<symbol>@bookTicker` pushes;
        reconnects with back-off by itself."""
        return quote_stream(
            self._http,
            self._ws_url,
            self.name,
            symbols,
            self._stream_policy,
            self._hooks,
            self._is_closed,
            self.quote,
        )

    def order_updates(self) -> AsyncGenerator[OrderState, None]:
        """Our orders as the user-data stream reports them (ORDER_TRADE_UPDATE, matched by
        client id `c`); the stream reconnects by itself. Missed events are not replayed:
        register `on_reconnect` to reconcile."""
        return self._user.updates()

    def fence(self, may_send: MaySend, window: float) -> None:
        self._http.may_send = may_send
        self.signature_window = self._http.signer.bound_writes(window)

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Call `hook(stream)` after a stream reconnected ("user" or "quotes:<SYMBOL>");
        a coroutine hook runs as a task."""
        self._hooks.add(hook)

    # --- orders ---------------------------------------------------------------------------

    def crowded(self) -> bool:
        return self._http.budget.crowded()

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        params = self._order_params(order)
        if isinstance(params, Rejected):
            return refused(params)
        return self._writer("POST", params, order.client_id, order.symbol)

    async def place(self, order: OrderRequest) -> Outcome:
        return await self.prepare(order)()

    async def cancel(self, symbol: str, client_id: str) -> Outcome:
        params = [("symbol", symbol), ("origClientOrderId", client_id)]
        return await self._writer("DELETE", params, client_id, symbol)()

    def _writer(self, method: str, params: Params, client_id: str, symbol: str) -> ReadyOrder:
        write = self._http.prepare_write(method, self._paths.order, params)
        return functools.partial(self._write, write, method, client_id, symbol)

    async def _write(
        self, write: Callable[[], Awaitable[Reply]], method: str, client_id: str, symbol: str
    ) -> Outcome:
        try:
            reply = await write()
        except NotSent as e:
            return Rejected(NOT_SENT, str(e))
        except TransportError as e:
            return Ambiguous(str(e))
        except VenueError as e:  # not started: nothing left
            return Rejected(NOT_SENT, str(e))
        outcome = classify_write(reply.status, reply.body, client_id, symbol)
        if isinstance(outcome, Rejected) and outcome.code == str(CLOCK_SKEW):
            outcome = Rejected(EXPIRED, outcome.message)
        if not isinstance(outcome, Rejected | Ambiguous):
            return outcome
        log.info("%s %s %s: %s", self.name, method, client_id, outcome)
        return outcome

    def _order_params(self, order: OrderRequest) -> list[tuple[str, str]] | Rejected:
        """The new-order params, or why this client will not send them."""
        if self._hedge_mode is None:
            return Rejected(NOT_SENT, f"{self.name}: not started")
        if order.qty <= 0 or not order.qty.is_finite():
            return Rejected(NOT_SENT, f"quantity must be positive, got {order.qty}")
        limit, stop = order.type is OrderType.LIMIT, order.type is OrderType.STOP_MARKET
        if limit != (order.price is not None):
            return Rejected(NOT_SENT, "a LIMIT order needs a price, and only a LIMIT order one")
        if stop != (order.trigger_price is not None):
            return Rejected(NOT_SENT, "a STOP_MARKET order needs a trigger price, others none")
        if order.post_only and not limit:
            return Rejected(NOT_SENT, "post-only applies to LIMIT orders")
        params = [
            ("symbol", order.symbol),
            ("side", order.side.value),
            ("type", order.type.value),
            ("quantity", fmt(order.qty)),
        ]
        if order.trigger_price is not None:
            if order.trigger_price <= 0 or not order.trigger_price.is_finite():
                return Rejected(NOT_SENT, f"trigger price must be positive: {order.trigger_price}")
            # triggered by the mark price, as the daemon's own stops are judged
            params += [("stopPrice", fmt(order.trigger_price)), ("workingType", "MARK_PRICE")]
        if order.price is not None:
            if order.price <= 0 or not order.price.is_finite():
                return Rejected(NOT_SENT, f"price must be positive, got {order.price}")
            time_in_force = "GTX" if order.post_only else "GTC"
            params += [("price", fmt(order.price)), ("timeInForce", time_in_force)]
        if self._hedge_mode:
            # Hedge mode: the position side says what reduces; reduceOnly may not be sent.
            opens_long = (order.side is Side.BUY) != order.reduce_only
            params.append(("positionSide", "LONG" if opens_long else "SHORT"))
        elif order.reduce_only:
            params.append(("reduceOnly", "true"))
        params += [("newClientOrderId", order.client_id), ("newOrderRespType", "RESULT")]
        return params

    async def _query_raw(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        """The order object, or None only when the venue says -2013 (a JSON `null` is not)."""
        params = [("symbol", symbol), ("origClientOrderId", client_id)]
        try:
            raw = await self._http.read("GET", self._paths.order, params)
        except ApiError as e:
            if e.code == NO_SUCH_ORDER:
                return None
            raise
        if not isinstance(raw, dict):
            raise WireError(f"order {client_id}: expected an object")
        return raw

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        raw = await self._query_raw(symbol, client_id)
        if raw is None:
            return None
        state = order_state(raw)
        if state.client_id != client_id or state.symbol != symbol:
            raise WireError(f"asked for {client_id} on {symbol}, got another order")
        return state

    async def open_orders(self, symbol: str) -> list[OrderState]:
        rows = await self._http.read("GET", self._paths.open_orders, [("symbol", symbol)])
        return [o for o in open_orders(rows) if o.symbol == symbol]

    async def position(self, symbol: str) -> Position:
        rows = await self._http.read(
            "GET", self._paths.position_risk, [("symbol", symbol)], weight=5
        )
        return position(self.name, symbol, rows)

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        """The order's trades from userTrades (from its creation time on, paged by id)."""
        raw = await self._query_raw(symbol, client_id)
        if raw is None:
            return []
        order = order_state(raw)
        if order.filled_qty == 0:
            return []
        created = order_time_ms(raw)
        params: list[tuple[str, str]] = [("symbol", symbol), ("limit", str(TRADES_PAGE))]
        if created is not None:
            params.append(("startTime", str(created - START_SLACK_MS)))
        found: dict[str, Fill] = {}
        for _ in range(MAX_TRADE_PAGES):
            rows = await self._http.read("GET", self._paths.user_trades, params, weight=5)
            for fill in fills(self.name, client_id, order.venue_order_id, rows):
                found[fill.trade_id] = fill
            ids = trade_ids(rows)
            if len(ids) < TRADES_PAGE or sum(f.qty for f in found.values()) >= order.filled_qty:
                break
            after = str(max(ids) + 1)
            params = [("symbol", symbol), ("limit", str(TRADES_PAGE)), ("fromId", after)]
        return sorted(found.values(), key=lambda f: int(f.trade_id))

    # --- funding --------------------------------------------------------------------------

    async def funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """FUNDING_FEE rows of the income history from `since` on, oldest first: window by
        window (the venue answers at most 7 days at once), each paged by time (rows of a
        page's last millisecond are read again and kept once, by tranId)."""
        start, now = int(since.timestamp() * 1000), self.clock.now_ms()
        found: dict[str, FundingPayment] = {}
        while start <= now:
            end = min(start + INCOME_WINDOW_MS, now)
            params = [
                ("symbol", symbol),
                ("incomeType", "FUNDING_FEE"),
                ("startTime", str(start)),
                ("endTime", str(end)),
                ("limit", str(INCOME_PAGE)),
            ]
            rows = await self._http.read("GET", self._paths.income, params, weight=30)
            count, payments = funding_payments(self.name, symbol, rows)
            found.update((p.payment_id, p) for p in payments)
            times = income_times(rows)
            if count < INCOME_PAGE or not times:
                start = end + 1  # the window is read: the next one
            else:  # a full page of one millisecond cannot be paged by time: move past it
                start = max(times) if max(times) > start else start + 1
        return sorted(found.values(), key=lambda p: (p.at, int(p.payment_id)))

    async def funding_info(self, symbol: str) -> FundingInfo:
        """premiumIndex (rate, next settlement, mark) and fundingInfo (the interval)."""
        params = [("symbol", symbol)]
        premium = await self._http.read("GET", PREMIUM_INDEX_PATH, params, security=Security.PUBLIC)
        intervals = await self._http.read(
            "GET", FUNDING_INFO_PATH, params, security=Security.PUBLIC
        )
        return funding_info(symbol, premium, intervals)
