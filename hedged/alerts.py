"""Webhook alerts: a generic JSON POST to `[alerts] webhook_url` when an operator should look.

Each alert is one JSON object: {"event", "round", "reason", "at", ...}, money as exact decimal
strings, never a secret. Events: round_halted, stop_loss (MONITORING -> LIMIT_SET),
unprotected (a venue refused a leg's backstop: the round closes), round_done,
daily_loss_limit, venue_down / venue_up (no price, or every call failing, for longer than
`venue_down_seconds`), reconcile_unclean.

The trading loop only ever puts an alert in a bounded queue (`Webhook.post`, which never
waits; when the queue is full the oldest alert is dropped and logged). A background task
delivers them in order, retrying with backoff; a failed delivery is logged, never raised.
The URL is never logged: a webhook URL usually carries its token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp

from hedged.config import Config
from hedged.i18n import _
from hedged.observe import AMBIGUOUS, ERROR, NOT_SENT_OUTCOME
from hedged.states.machine import Trigger
from hedged.store import RoundRow, Store, utc_day_start

if TYPE_CHECKING:
    from hedged.reconcile import Report

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
ATTEMPTS = 5
FIRST_BACKOFF = 1.0  # seconds before the 2nd attempt; doubles up to MAX_BACKOFF
MAX_BACKOFF = 30.0
ATTEMPT_TIMEOUT = 10.0
FLUSH_SECONDS = 5.0  # at shutdown, how long queued alerts may still take
RETRY_STATUSES = frozenset({408, 425, 429})  # besides 5xx: worth another try

Alert = dict[str, Any]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class Webhook:
    """Delivers alerts to one URL from a background task; `post` never blocks."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        attempts: int = ATTEMPTS,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        timeout: float = ATTEMPT_TIMEOUT,
    ) -> None:
        self._url = url
        self.attempts = attempts
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(queue_size)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._in_flight = False

    def __repr__(self) -> str:
        return "Webhook(<url hidden>)"

    def post(self, event: str, round_id: int | None, reason: str, **extra: Any) -> None:
        """Queue an alert for delivery; returns at once."""
        alert: Alert = {
            "event": event,
            "round": round_id,
            "reason": reason,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            **extra,
        }
        if self.queue.full():
            old = self.queue.get_nowait()
            self.queue.task_done()
            self.dropped += 1
            log.warning(
                _("webhook queue full (%d): dropped the oldest alert, %s of round %s at %s"),
                self.queue.maxsize,
                old["event"],
                old["round"],
                old["at"],
            )
        self.queue.put_nowait(alert)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="webhook")

    async def close(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        """Give queued alerts up to `flush_seconds`, then stop delivering."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), flush_seconds)
        except TimeoutError:
            left = self.queue.qsize() + self._in_flight
            log.warning(_("webhook: %d alerts not delivered at shutdown"), left)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _drain(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                alert = await self.queue.get()
                self._in_flight = True
                try:
                    await self._deliver(session, alert)
                except Exception:  # never let one alert end the delivery task
                    log.exception(_("webhook: delivering %s failed"), alert["event"])
                finally:
                    self._in_flight = False
                    self.queue.task_done()

    async def _deliver(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        body = json.dumps(alert, default=str).encode()
        headers = {"Content-Type": "application/json"}
        pause = self.first_backoff
        why = ""
        for attempt in range(1, self.attempts + 1):
            try:
                async with session.post(self._url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                why = "timed out" if isinstance(e, TimeoutError) else type(e).__name__
            else:
                if status < 300:
                    self.delivered += 1
                    return
                why = f"HTTP {status}"
                if status < 500 and status not in RETRY_STATUSES:
                    break  # the receiver refuses this request: another try would not help
            if attempt < self.attempts:
                log.info(
                    "webhook: %s alert, attempt %d failed (%s); retrying in %.1fs",
                    alert["event"],
                    attempt,
                    why,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.max_backoff)
        self.failed += 1
        log.warning(
            _("webhook: gave up on %s alert of round %s after %d attempts: %s"),
            alert["event"],
            alert["round"],
            attempt,
            why,
        )


class Alerts:
    """The observer that decides which events deserve an alert (hedged.observe.Observer)."""

    def __init__(self, webhook: Webhook, config: Config, store: Store | None = None) -> None:
        self.webhook = webhook
        self.store = store
        self.venue_down_seconds = float(config.alerts.venue_down_seconds)
        self.daily_loss_limit = config.strategy.daily_loss_limit_usdt
        self._down: set[str] = set()
        self._failing_since: dict[str, float] = {}  # venue -> first call failure in a row
        self._loss_day: date | None = None  # the UTC day the loss-limit alert went out

    def round_moved(self, round_: RoundRow, source: str, trigger: str, reason: str) -> None:
        post = self.webhook.post
        if round_.state == "HALTED":
            post("round_halted", round_.id, reason, **{"from": source, "to": round_.state})
        elif source == "MONITORING" and round_.state == "LIMIT_SET":
            post("stop_loss", round_.id, reason, **{"from": source, "to": round_.state})
        elif trigger == Trigger.UNPROTECTED:
            post("unprotected", round_.id, reason, **{"from": source, "to": round_.state})
        elif round_.state == "DONE":
            post(
                "round_done",
                round_.id,
                round_.reason or reason,
                realized_pnl=_money(round_.realized_pnl),
                fees=_money(round_.fees),
                volume=_money(round_.volume),
            )
            self._check_daily_loss(round_.id)

    def _check_daily_loss(self, round_id: int | None) -> None:
        if self.store is None:
            return
        start = utc_day_start()
        pnl = self.store.realized_since(start)
        if pnl <= -self.daily_loss_limit and self._loss_day != start.date():
            self._loss_day = start.date()
            self.webhook.post(
                "daily_loss_limit",
                round_id,
                f"realized PnL today {pnl} USDT reached the daily loss limit "
                f"{self.daily_loss_limit} USDT; no new round opens before 00:00 UTC",
                pnl_today=str(pnl),
                limit=str(self.daily_loss_limit),
            )

    def venue_call(self, venue: str, call: str, outcome: str, seconds: float) -> None:
        if outcome == NOT_SENT_OUTCOME:  # the client held it back: says nothing either way
            return
        if outcome in (AMBIGUOUS, ERROR):  # no answer; a rejection is an answer
            since = self._failing_since.setdefault(venue, time.monotonic())
            failing = time.monotonic() - since
            if failing >= self.venue_down_seconds:
                self._venue_down(venue, f"{venue} calls failing for {failing:.0f}s", failing)
        else:
            self._failing_since.pop(venue, None)

    def reconciled(self, report: Report) -> None:
        if report.clean:
            return
        problems = [
            f"{v} {s} position {actual}, rounds expect {expected}"
            for (v, s), (actual, expected) in report.mismatches.items()
        ] + list(report.unresolved)
        self.webhook.post(
            "reconcile_unclean",
            None,
            "; ".join(problems),
            mismatches={
                f"{v}:{s}": {"venue": str(a), "expected": str(e)}
                for (v, s), (a, e) in report.mismatches.items()
            },
            unresolved=list(report.unresolved),
        )

    def loop_pass(self, lag: float, price_ages: Mapping[str, float | None]) -> None:
        for venue, age in price_ages.items():
            if age is not None and age >= self.venue_down_seconds:
                self._venue_down(venue, f"no price from {venue} for {age:.0f}s", age)
            elif age is not None and venue in self._down and venue not in self._failing_since:
                self._down.discard(venue)
                self.webhook.post("venue_up", None, f"{venue} answers again", venue=venue)

    def leadership(self, book: str, leading: bool, takeover: bool) -> None:
        if takeover:
            self.webhook.post(
                "takeover", None, f"took over {book}: its leader's lease lapsed", book=book
            )
        elif not leading:
            self.webhook.post("deposed", None, f"no longer leading {book}; standing by", book=book)

    def _venue_down(self, venue: str, why: str, seconds: float) -> None:
        if venue in self._down:
            return
        self._down.add(venue)
        self.webhook.post(
            "venue_down",
            None,
            f"{why} (alerts.venue_down_seconds {self.venue_down_seconds:g})",
            venue=venue,
            seconds=round(seconds, 1),
        )
