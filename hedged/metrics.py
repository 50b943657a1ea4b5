"""Prometheus metrics: an observer of the daemon (hedged.observe) and its HTTP endpoint.

Served on 127.0.0.1 only (`[metrics] port`, 0 = off), from the daemon's own event loop, with
a registry of its own (not prometheus_client's global one). Money is Decimal everywhere in
the daemon; it becomes float here, at the metrics boundary, and nowhere else.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from hedged.costs import slippage
from hedged.legs import VENUES
from hedged.observe import ACCEPTED, NOT_SENT_OUTCOME, OK
from hedged.store import ACTIVE_STATES, RoundRow, Store, utc_day_start

if TYPE_CHECKING:
    from hedged.reconcile import Report

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # never another interface: the page is for a local scraper or an SSH tunnel
LIQUIDITY = ("maker", "taker")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Why a round finished, as a bounded label (the reason text itself carries prices and ids).
REASON_CLASSES = (
    ("take-profit", "take_profit"),
    ("stop-loss", "stop_loss"),
    ("time limit", "time_limit"),
    ("entry failed", "entry_failed"),
    ("not opened", "entry_failed"),
    ("legs filled", "entry_failed"),
    ("operator", "operator"),
    ("shutdown", "shutdown"),
)


def reason_class(reason: str | None) -> str:
    text = (reason or "").lower()
    return next((label for prefix, label in REASON_CLASSES if text.startswith(prefix)), "other")


def _float(value: Decimal | None) -> float:
    # The metrics boundary: the only place money turns into float (for Prometheus' doubles).
    return float(value) if value is not None else 0.0


def _signed(amount: Decimal, positive: Counter, negative: Counter) -> None:
    """A signed amount into the counter of its sign (a counter only grows)."""
    if amount > 0:
        positive.inc(_float(amount))
    elif amount < 0:
        negative.inc(_float(-amount))


class Metrics:
    """The daemon's series, kept up to date by observer calls; `refresh()` reads what the
    store knows best (rounds by state, today's PnL) just before a scrape."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        self.registry = r = CollectorRegistry()
        self.rounds = Gauge(
            "hedged_rounds",
            "Rounds not finished, by state (from the store at scrape time)",
            ["state"],
            registry=r,
        )
        self.transitions = Counter(
            "hedged_round_transitions", "Round state changes", ["from", "to"], registry=r
        )
        self.finished = Counter(
            "hedged_rounds_finished",
            "Rounds DONE, by why they closed: take_profit, stop_loss, time_limit, "
            "entry_failed, operator, shutdown, other",
            ["reason"],
            registry=r,
        )
        self.pnl = Gauge(
            "hedged_realized_pnl_usdt",
            "Realized PnL after fees of the rounds finished since the daemon started",
            registry=r,
        )
        self.pnl_today = Gauge(
            "hedged_realized_pnl_today_usdt",
            "Realized PnL after fees of the rounds finished today, UTC (from the store; "
            "what strategy.daily_loss_limit_usdt is checked against)",
            registry=r,
        )
        self.fees = Gauge(
            "hedged_fees_usdt",
            "Fees of the rounds finished since the daemon started (negative for rebates)",
            registry=r,
        )
        self.volume = Counter(
            "hedged_volume_usdt",
            "Traded notional of the rounds finished since the daemon started, per venue",
            ["venue"],
            registry=r,
        )
        # What the volume cost (docs/architecture.md#the-cost-of-volume), counted when a round
        # is DONE: its costs are final then, and it is DONE once, so nothing is counted twice.
        # Signed amounts go to a pair of counters, as counters only grow.
        self.fees_paid = Counter(
            "hedged_fees_paid_usdt",
            "Fees charged on the fills of the rounds finished since the daemon started, per "
            "venue and liquidity (maker, taker)",
            ["venue", "liquidity"],
            registry=r,
        )
        self.fee_rebates = Counter(
            "hedged_fee_rebates_usdt",
            "Fee rebates (negative fees) on the fills of the rounds finished since the daemon "
            "started, per venue and liquidity",
            ["venue", "liquidity"],
            registry=r,
        )
        self.funding_received = Counter(
            "hedged_funding_received_usdt",
            "Funding received by the legs of the rounds finished since the daemon started",
            ["venue"],
            registry=r,
        )
        self.funding_paid = Counter(
            "hedged_funding_paid_usdt",
            "Funding paid by the legs of the rounds finished since the daemon started",
            ["venue"],
            registry=r,
        )
        self.slippage = Counter(
            "hedged_slippage_usdt",
            "What orders' fills cost beyond the price each was decided on (rounds finished "
            "since the daemon started)",
            ["venue"],
            registry=r,
        )
        self.improvement = Counter(
            "hedged_price_improvement_usdt",
            "What orders' fills gained over the price each was decided on (rounds finished "
            "since the daemon started)",
            ["venue"],
            registry=r,
        )
        self.profit = Counter(
            "hedged_realized_profit_usdt",
            "Realized PnL (after fees and funding) of the winning rounds finished since the "
            "daemon started",
            registry=r,
        )
        self.loss = Counter(
            "hedged_realized_loss_usdt",
            "Realized loss (after fees and funding) of the losing rounds finished since the "
            "daemon started, as a positive amount",
            registry=r,
        )
        self.latency = Histogram(
            "hedged_venue_call_seconds",
            "Round-trip time of venue calls (place, cancel, query, fills, open_orders, "
            "position, quote, rules)",
            ["venue", "call"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "hedged_venue_errors",
            "Venue calls that did not succeed, by outcome class: rejected, ambiguous, "
            "not_sent (place, cancel), error (reads)",
            ["venue", "call", "outcome"],
            registry=r,
        )
        self.reconciliations = Counter(
            "hedged_reconciliations", "Reconciliation runs (start-up, reconnects)", registry=r
        )
        self.reconcile_resolved = Counter(
            "hedged_reconcile_resolved_orders",
            "Unsure orders (INTENT, AMBIGUOUS) settled by client id in reconciliation",
            registry=r,
        )
        self.reconcile_orphans = Counter(
            "hedged_reconcile_orphans_cancelled",
            "Orders of ours the store did not know, cancelled by reconciliation",
            registry=r,
        )
        self.reconcile_mismatches = Counter(
            "hedged_reconcile_mismatches",
            "Venue positions the open rounds could not explain, found by reconciliation",
            registry=r,
        )
        self.reconcile_unresolved = Counter(
            "hedged_reconcile_unresolved_orders",
            "Orders reconciliation could not settle by client id",
            registry=r,
        )
        self.reconcile_clean = Gauge(
            "hedged_reconcile_clean", "1 if the last reconciliation was clean, else 0", registry=r
        )
        self.price_age = Gauge(
            "hedged_price_age_seconds",
            "Age of the newest price per venue at the last loop pass (NaN: none yet)",
            ["venue"],
            registry=r,
        )
        self.loop_lag = Gauge(
            "hedged_loop_lag_seconds",
            "Seconds the last loop pass took (commands, opening, stepping every round)",
            registry=r,
        )
        self.loop_passes = Counter("hedged_loop_passes", "Loop passes", registry=r)
        self.leader = Gauge(
            "hedged_leader",
            "1 while this daemon holds the book's lease and trades it, 0 while it stands by",
            ["book"],
            registry=r,
        )
        self.takeovers = Counter(
            "hedged_takeovers",
            "Leases this daemon took over from a daemon whose lease lapsed",
            ["book"],
            registry=r,
        )
        self.loop_last = Gauge(
            "hedged_loop_last_pass_timestamp_seconds",
            "Unix time the last loop pass ended",
            registry=r,
        )
        for state in ACTIVE_STATES:
            self.rounds.labels(state)
        for venue in VENUES:
            for counter in (
                self.volume,
                self.funding_received,
                self.funding_paid,
                self.slippage,
                self.improvement,
            ):
                counter.labels(venue)
            for liquidity in LIQUIDITY:
                self.fees_paid.labels(venue, liquidity)
                self.fee_rebates.labels(venue, liquidity)
            self.price_age.labels(venue).set(math.nan)

    # -- observer ------------------------------------------------------------------------

    def round_moved(self, round_: RoundRow, source: str, trigger: str, reason: str) -> None:
        self.transitions.labels(source, round_.state).inc()
        if round_.state != "DONE":
            return
        self.finished.labels(reason_class(round_.reason or reason)).inc()
        self.pnl.inc(_float(round_.realized_pnl))
        self.fees.inc(_float(round_.fees))
        pnl = round_.realized_pnl or Decimal(0)
        _signed(pnl, self.profit, self.loss)
        if self.store is not None and round_.id is not None:
            self._count_costs(self.store, round_.id)

    def _count_costs(self, store: Store, round_id: int) -> None:
        """A finished round's volume, fees, funding and slippage, per venue: the figures
        `hedgectl history` shows for it."""
        for f in store.fills_of(round_id):
            self.volume.labels(f.venue).inc(_float(f.qty * f.price))
            liquidity = "maker" if f.maker else "taker"
            _signed(
                f.fee,
                self.fees_paid.labels(f.venue, liquidity),
                self.fee_rebates.labels(f.venue, liquidity),
            )
        for o in store.orders_of(round_id):
            _signed(slippage(o), self.slippage.labels(o.venue), self.improvement.labels(o.venue))
        for payment in store.funding_of(round_id):
            _signed(
                payment.amount,
                self.funding_received.labels(payment.venue),
                self.funding_paid.labels(payment.venue),
            )

    def venue_call(self, venue: str, call: str, outcome: str, seconds: float) -> None:
        if outcome != NOT_SENT_OUTCOME:  # declined by the client itself: no round trip
            self.latency.labels(venue, call).observe(seconds)
        if outcome not in (OK, ACCEPTED):
            self.errors.labels(venue, call, outcome).inc()

    def reconciled(self, report: Report) -> None:
        self.reconciliations.inc()
        self.reconcile_resolved.inc(report.resolved)
        self.reconcile_orphans.inc(len(report.orphans_cancelled))
        self.reconcile_mismatches.inc(len(report.mismatches))
        self.reconcile_unresolved.inc(len(report.unresolved))
        self.reconcile_clean.set(1 if report.clean else 0)

    def loop_pass(self, lag: float, price_ages: Mapping[str, float | None]) -> None:
        self.loop_passes.inc()
        self.loop_lag.set(lag)
        self.loop_last.set_to_current_time()
        for venue, age in price_ages.items():
            self.price_age.labels(venue).set(math.nan if age is None else age)

    def leadership(self, book: str, leading: bool, takeover: bool) -> None:
        self.leader.labels(book).set(1 if leading else 0)
        if takeover:
            self.takeovers.labels(book).inc()

    # -- scrape --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read what only the store knows for sure, just before a scrape."""
        if self.store is None:
            return
        counts = dict.fromkeys(ACTIVE_STATES, 0)
        for r in self.store.active_rounds():
            counts[r.state] = counts.get(r.state, 0) + 1
        for state, n in counts.items():
            self.rounds.labels(state).set(n)
        self.pnl_today.set(_float(self.store.realized_since(utc_day_start())))

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The page and its content type, in the format the scraper asks for (`accept`)."""
        try:
            self.refresh()
        except Exception:  # a busy or broken database still leaves the other series to show
            log.exception("metrics: cannot read the store")
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


class MetricsServer:
    """GET /metrics on 127.0.0.1:`port` (0: any free port, for tests), on the running loop."""

    def __init__(self, metrics: Metrics, port: int) -> None:
        self.metrics = metrics
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]  # the bound port: port 0 picks a free one

    async def _scrape(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/metrics"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
