"""The monitoring block in the daemon's own terminal: `hedged run` started by hand shows,
every `strategy.poll_interval_seconds`, the block `hedgectl watch` draws, live (rich), with
the event log scrolling above it. Never under systemd, with a JSON or journal log, or when
stderr is not a terminal (unless --monitor asks for it).

It draws from a timer, from what the engine already holds: its active rounds and their
orders (the store's in-memory copy), its latest prices. A round's fills are read from the
store only when its orders show a fill the monitor has not read yet.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.text import Text

from hedged.legs import VENUES
from hedged.model import Quote
from hedged.report import FundingView, RoundView, view_of
from hedged.store import FillRow, FundingRow, OrderRow, utcnow
from hedged.views import monitor_block

if TYPE_CHECKING:
    from hedged.engine import Engine

SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "INVOCATION_ID")  # set for a service's processes


def wanted(asked: bool | None, log_format: str, environ: Mapping[str, str], tty: bool) -> bool:
    """asked: --monitor (True), --no-monitor (False) or neither; log_format as resolved
    (auto already made text or journal)."""
    if asked is False or log_format != "text":
        return False
    if any(name in environ for name in SYSTEMD_VARIABLES):
        return False
    return bool(asked) or tty


def console(forced: bool) -> Console:
    """The terminal's console on stderr (the log's stream); forced: drawn even on a pipe."""
    return Console(
        file=sys.stderr,
        force_terminal=forced or None,
        highlight=False,
        markup=False,
        emoji=False,
    )


class ConsoleHandler(logging.Handler):
    """The log through the monitor's console: each line printed above the live block."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(Text(self.format(record)), soft_wrap=True)
        except Exception:
            self.handleError(record)


class Drawn:
    """The block laid out once, on the timer. While it is live, rich draws it again below
    every log line printed: laid out each time, that would cost the step that logged some
    7 ms for one round; replayed, some microseconds."""

    def __init__(self, console: Console, block: RenderableType) -> None:
        self.lines = console.render_lines(block, console.options, pad=False)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()


class Monitor:
    def __init__(self, engine: Engine, console: Console, interval: float) -> None:
        self.engine = engine
        self.console = console
        self.interval = interval
        self._fills: dict[int, list[FillRow]] = {}  # per active round, as last read
        self._funding: dict[int, list[FundingRow]] = {}  # per active round, as last read
        self._funding_seen: tuple[object, int] | None = None  # the collector's store count

    async def run(self) -> None:
        """Draw until cancelled; the last block stays on the screen."""
        frames = itertools.count(1)
        with Live(self.frame(next(frames)), console=self.console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(self.interval)
                live.update(self.frame(next(frames)), refresh=True)

    def frame(self, counter: int) -> Drawn:
        engine = self.engine
        quotes = {v: engine.prices.latest(v, engine.symbols[v]) for v in VENUES}
        collected = (engine.funding, engine.funding.stored)
        if collected != self._funding_seen:  # a payment was stored: read the rounds' again
            self._funding, self._funding_seen = {}, collected
        rounds = [self.view(r, quotes) for r in sorted(engine.live)]
        self._fills = {r: self._fills[r] for r in engine.live if r in self._fills}
        self._funding = {r: self._funding[r] for r in engine.live if r in self._funding}
        shown = [q for q in quotes.values() if q is not None]
        rates = [FundingView(v, info) for (v, _s), info in sorted(engine.funding.infos.items())]
        live = [v for v in rounds if v is not None]
        block = monitor_block(counter, utcnow(), shown, live, rates)
        return Drawn(self.console, block)

    def view(self, round_id: int, quotes: Mapping[str, Quote | None]) -> RoundView | None:
        store = self.engine.store
        r = store.get_round(round_id)
        if r is None:
            return None
        orders = store.orders_of(round_id)
        if round_id not in self._funding:
            self._funding[round_id] = store.funding_of(round_id)
        fills = self.fills(round_id, orders)
        return view_of(r, orders, fills, quotes, funding=self._funding[round_id])

    def fills(self, round_id: int, orders: list[OrderRow]) -> list[FillRow]:
        """The round's fills, read again only when its orders report more filled than read."""
        known = self._fills.get(round_id)
        filled = sum((o.filled_qty for o in orders), Decimal(0))
        if known is None or sum((f.qty for f in known), Decimal(0)) != filled:
            known = self._fills[round_id] = self.engine.store.fills_of(round_id)
        return known
