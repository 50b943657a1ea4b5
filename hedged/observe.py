"""The observer seam: what the daemon reports as it works, for metrics and alerts.

The engine reports round transitions (after the store committed them), reconciliations and
loop passes; every venue call is timed and classified by `observed_venues`, a thin wrapper
around the venue port. The default observer does nothing, so code paths without metrics or
alerts are unchanged. An observer only watches: it never decides anything, and its failures
are logged, never raised into the trading loop (`Observers`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from hedged.adapters.base import (
    NOT_SENT,
    Accepted,
    Ambiguous,
    MaySend,
    Outcome,
    ReadyOrder,
    ReconnectHook,
    Rejected,
    Venue,
)
from hedged.i18n import _
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

if TYPE_CHECKING:  # reconcile imports the order desk; keep this module a leaf at run time
    from hedged.config import Config
    from hedged.reconcile import Report
    from hedged.store import RoundRow, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

# Outcome classes of a venue call: place/cancel's three (and not sent), two for reads
# (docs/architecture.md#classifying-answers).
ACCEPTED, REJECTED, AMBIGUOUS, NOT_SENT_OUTCOME = "accepted", "rejected", "ambiguous", "not_sent"
OK, ERROR = "ok", "error"


class Observer(Protocol):
    def round_moved(self, round_: RoundRow, source: str, trigger: str, reason: str) -> None:
        """`round_` as committed after the move: id, new state and, on DONE, its realized
        PnL, fees and volume; `trigger` fired it; `reason` is its reason, or the trigger."""
        ...

    def venue_call(self, venue: str, call: str, outcome: str, seconds: float) -> None:
        """A venue call finished: `call` is the port method ("place", "cancel", "query", ...),
        `outcome` one of accepted/rejected/ambiguous/not_sent (place, cancel) or ok/error."""
        ...

    def reconciled(self, report: Report) -> None: ...

    def loop_pass(self, lag: float, price_ages: Mapping[str, float | None]) -> None:
        """One loop pass ended: it took `lag` seconds; age of the newest price per venue."""
        ...

    def leadership(self, book: str, leading: bool, takeover: bool) -> None:
        """This daemon took (`takeover`: from a daemon whose lease lapsed) or lost `book`."""
        ...


class NullObserver:
    def round_moved(self, round_: RoundRow, source: str, trigger: str, reason: str) -> None:
        return None

    def venue_call(self, venue: str, call: str, outcome: str, seconds: float) -> None:
        return None

    def reconciled(self, report: Report) -> None:
        return None

    def loop_pass(self, lag: float, price_ages: Mapping[str, float | None]) -> None:
        return None

    def leadership(self, book: str, leading: bool, takeover: bool) -> None:
        return None


NULL_OBSERVER: Observer = NullObserver()


class Observers:
    """Several observers as one; one that raises is logged and the others still hear it."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def _each(self, call: Callable[[Observer], None]) -> None:
        for o in self.observers:
            try:
                call(o)
            except Exception:  # an observer's bug must never stop a round
                log.exception(_("observer %s failed"), type(o).__name__)

    def round_moved(self, round_: RoundRow, source: str, trigger: str, reason: str) -> None:
        self._each(lambda o: o.round_moved(round_, source, trigger, reason))

    def venue_call(self, venue: str, call: str, outcome: str, seconds: float) -> None:
        self._each(lambda o: o.venue_call(venue, call, outcome, seconds))

    def reconciled(self, report: Report) -> None:
        self._each(lambda o: o.reconciled(report))

    def loop_pass(self, lag: float, price_ages: Mapping[str, float | None]) -> None:
        self._each(lambda o: o.loop_pass(lag, price_ages))

    def leadership(self, book: str, leading: bool, takeover: bool) -> None:
        self._each(lambda o: o.leadership(book, leading, takeover))


def outcome_class(outcome: Outcome) -> str:
    match outcome:
        case Accepted():
            return ACCEPTED
        case Rejected(code=code):
            return NOT_SENT_OUTCOME if code == NOT_SENT else REJECTED
        case Ambiguous():
            return AMBIGUOUS
    raise AssertionError(f"unknown outcome {outcome!r}")


class ObservedVenue:
    """A venue whose every request/response call is timed and classified for an observer.
    Behaviour is the wrapped venue's, unchanged: results and exceptions pass through."""

    def __init__(self, inner: Venue, observer: Observer) -> None:
        self.inner = inner
        self.observer = observer
        self.name = inner.name
        self.signature_window = inner.signature_window

    async def _timed(self, call: str, work: Awaitable[T], classify: Callable[[T], str]) -> T:
        started = time.monotonic()
        try:
            result = await work
        except Exception:
            # a state-changing call that raised may still have acted (the desk's view too)
            self._report(call, AMBIGUOUS if call in ("place", "cancel") else ERROR, started)
            raise
        self._report(call, classify(result), started)
        return result

    def _report(self, call: str, outcome: str, started: float) -> None:
        try:
            self.observer.venue_call(self.name, call, outcome, time.monotonic() - started)
        except Exception:  # watching a call must never change its result
            log.exception(_("observer %s failed"), type(self.observer).__name__)

    async def _read(self, call: str, work: Awaitable[T]) -> T:
        return await self._timed(call, work, lambda _: OK)

    def client_id(self, namespace: int, seq: int) -> str:
        return self.inner.client_id(namespace, seq)

    def owns(self, namespace: int, client_id: str) -> bool:
        return self.inner.owns(namespace, client_id)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def rules(self, symbol: str) -> SymbolRules:
        return await self._read("rules", self.inner.rules(symbol))

    async def quote(self, symbol: str) -> Quote:
        return await self._read("quote", self.inner.quote(symbol))

    def quotes(self, *symbols: str) -> AsyncIterator[Quote]:
        return self.inner.quotes(*symbols)

    def crowded(self) -> bool:
        return self.inner.crowded()

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        ready = self.inner.prepare(order)
        return lambda: self._timed("place", ready(), outcome_class)

    async def place(self, order: OrderRequest) -> Outcome:
        return await self.prepare(order)()

    async def cancel(self, symbol: str, client_id: str) -> Outcome:
        return await self._timed("cancel", self.inner.cancel(symbol, client_id), outcome_class)

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        return await self._read("query", self.inner.query(symbol, client_id))

    async def open_orders(self, symbol: str) -> list[OrderState]:
        return await self._read("open_orders", self.inner.open_orders(symbol))

    async def position(self, symbol: str) -> Position:
        return await self._read("position", self.inner.position(symbol))

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        return await self._read("fills", self.inner.fills(symbol, client_id))

    async def funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        return await self._read("funding_payments", self.inner.funding_payments(symbol, since))

    async def funding_info(self, symbol: str) -> FundingInfo:
        return await self._read("funding_info", self.inner.funding_info(symbol))

    def order_updates(self) -> AsyncIterator[OrderState]:
        return self.inner.order_updates()

    def on_reconnect(self, hook: ReconnectHook) -> None:
        self.inner.on_reconnect(hook)

    def fence(self, may_send: MaySend, window: float) -> None:
        self.inner.fence(may_send, window)
        self.signature_window = self.inner.signature_window


def observed_venues(venues: Mapping[str, Venue], observer: Observer) -> Mapping[str, Venue]:
    """`venues` with every call reported to `observer` (unchanged for the null observer)."""
    if observer is NULL_OBSERVER:
        return venues
    return {name: ObservedVenue(v, observer) for name, v in venues.items()}


@asynccontextmanager
async def observing(config: Config, store: Store) -> AsyncIterator[Observer]:
    """The daemon's observers as `config` asks: the Prometheus endpoint (`[metrics] port`)
    and webhook alerts (`[alerts] webhook_url`); the null observer when both are off.
    Neither may stop trading: a metrics port that cannot be bound is logged and skipped."""
    from hedged.alerts import Alerts, Webhook
    from hedged.metrics import Metrics, MetricsServer

    observers: list[Observer] = []
    server: MetricsServer | None = None
    webhook: Webhook | None = None
    if config.metrics.port:
        metrics = Metrics(store)
        server = MetricsServer(metrics, config.metrics.port)
        try:
            await server.start()
        except OSError as e:
            log.error(_("metrics: cannot serve on port %d: %s; going on without"), server.port, e)
            server = None
        else:
            log.info("metrics: serving %s", server.url)
            observers.append(metrics)
    if config.alerts.webhook_url:
        webhook = Webhook(config.alerts.webhook_url)
        webhook.start()
        observers.append(Alerts(webhook, config, store))
        log.info("alerts: webhook on")
    try:
        yield Observers(*observers) if observers else NULL_OBSERVER
    finally:
        if webhook is not None:
            await webhook.close()
        if server is not None:
            await server.stop()
