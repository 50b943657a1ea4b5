"""The daemon loop: recover, then loop { apply commands, open, step rounds, notify the
watchdog } (docs/architecture.md#the-daemon-loop)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from hedged import commands, heap
from hedged.adapters.base import CredentialsRefused, SymbolNotListed, Venue, VenueError
from hedged.config import Config
from hedged.entries import Entries
from hedged.funding import FundingCollector
from hedged.i18n import _
from hedged.leadership import (
    NOTHING_TO_DO,
    Lease,
    Taken,
    Timing,
    standby_status,
    this_process,
)
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.model import FundingInfo, OrderState, Quote
from hedged.observe import NULL_OBSERVER, Observer
from hedged.orders import OrderDesk, Unresolved, in_time, market_in_hand
from hedged.pairs import Pair, Pairs
from hedged.prices import PriceBook
from hedged.reconcile import Report, reconcile
from hedged.schedule import Schedule
from hedged.states import opening
from hedged.states.context import BACKSTOP, TAKE_PROFIT, Derived, Move, RoundContext
from hedged.states.machine import LIVE, RoundMachine, State, Trigger
from hedged.states.opening import SizingRefused
from hedged.states.registry import BEHAVIOUR
from hedged.stepper import Stepper
from hedged.store import Deposed, NotHeld, RoundRow, Store, utc_day_start, utcnow
from hedged.wake import Alarm, WakingEvent

log = logging.getLogger("hedged.engine")

T = TypeVar("T")

LIVE_STATES = frozenset(s.value for s in LIVE)
MAX_MOVES_PER_STEP = 8  # a round passes at most through every state in one step
QUOTE_SAVE_SECONDS = 1.0
FIRST_PRICES_SECONDS = 60.0  # at start, every market's price awaited this long at most
STALE_POLL_SECONDS = 1.0  # a market whose stream is quiet: one REST quote a second at most
TROUBLE_LOG_SECONDS = 30.0  # a round's "venue trouble" warning, at most this often
SHUTDOWN_STEP_SECONDS = 30.0  # steps under way at shutdown get this long to finish
UNRESOLVED_HALT_SECONDS = 300.0  # an order that cannot be looked up this long → HALTED
EX_BLOCKED = 3  # single mode: the pair is blocked, the one round can never open
CATCH_UP_FIRST_RETRY = 1.0  # a failed catch-up reconciliation is tried again after this,
CATCH_UP_MAX_RETRY = 30.0  # doubling up to this


class Notifier(Protocol):
    def __call__(self, **fields: str) -> None: ...


def _no_notify(**fields: str) -> None:
    return None


class Engine:
    command_poll_seconds = 0.2  # hedgectl's commands are read this often, not on every event
    watchdog_seconds = 1.0  # WATCHDOG=1 and the STATUS line at most this often, not per event

    def __init__(
        self,
        config: Config,
        store: Store,
        venues: Mapping[str, Venue],
        notify: Notifier = _no_notify,
        observer: Observer = NULL_OBSERVER,
        lease: Lease | None = None,
    ) -> None:
        self.config = config
        self.strategy = config.strategy  # the daemon's mode and timers; each pair has its own
        self.pairs = Pairs(config.pairs)
        # what the price streams carry: every configured pair's symbols
        self._streamed = [(v, s) for p in self.pairs for v, s in p.symbols.items()]
        self.store = store
        store.checkpoint_beside()  # no WAL copy inside an order intent's commit
        self.venues = venues
        self.notify = notify
        self.observer = observer
        self.prices = PriceBook(float(self.strategy.max_price_age_seconds))
        # polled often enough that a working REST keeps a quiet market's price fresh
        self._stale_poll = min(STALE_POLL_SECONDS, float(self.strategy.max_price_age_seconds) / 2)
        books = [p.book for p in self.pairs]
        self.entries = {  # how each pair's next round opens (direction, funding ahead)
            p.name: Entries(p.strategy, self._pair_funding(p), self._open_shorts(p))
            for p in self.pairs
        }
        self.lease = lease or Lease(
            store,
            this_process(books[0]),
            Timing.of(float(config.daemon.lease_seconds)),
            books=books,
            fleet=config.daemon.fleet,
        )
        store.fence = self.lease.fence()  # every write checks the lease: none until taken
        # Every order and cancel, once signed, just before it leaves; its signature window no
        # longer than the lease's margin, so that the venue refuses it if it is held up until
        # the store could have given the book to another daemon.
        for v in venues.values():
            v.fence(
                lambda: self.lease.valid() and in_time() and self._holds_market(),
                self.lease.timing.margin,
            )
        self.leading = False
        self._flattened: str | None = None  # the last fleet-wide flatten this daemon saw
        self.stopping: asyncio.Event = WakingEvent(self._wake)
        self._streams: list[asyncio.Task[None]] = []
        self._keeper: asyncio.Task[None] | None = None
        self._last_quote_save = 0.0
        self._stale_polled: dict[tuple[str, str], float] = {}  # market -> its last REST quote
        self._last_commands = 0.0
        self._notified = -float("inf")  # monotonic: the last WATCHDOG=1
        self._poll_seconds = float(self.strategy.poll_interval_seconds)
        self._idle = Alarm(self._wake, self._poll_seconds)
        self._finished_since_trim = False  # a round ended since the heap was last trimmed
        # A job's write refused because a book moved while it ran (the fence at work).
        self.stepper = Stepper(lambda r, poll: self.step(r, poll), self._wake, (Deposed,))
        self._forget()

    def _forget(self) -> None:
        """What the daemon knows of the book's rounds, and their schedule: built afresh
        each time it takes the lease (another daemon may have moved them meanwhile)."""
        self.desk = OrderDesk(self.store, self.venues)
        self.funding = FundingCollector(
            self.store, self.venues, self.desk, self.stepper.spawn, self._funding_in
        )
        for pair in self.pairs:
            pair.forget()
        self._last_poll = 0.0
        self._unresolved_since: dict[int, float] = {}
        self._trouble_logged: dict[int, float] = {}
        self._derived: dict[int, Derived] = {}  # each live round's legs, from step to step
        self._reconcile_due = False
        self._catch_up_at = 0.0  # monotonic: when a failed catch-up is tried again
        self._catch_up_pause = CATCH_UP_FIRST_RETRY
        self._catch_up_failing_since: float | None = None
        self.schedule = Schedule()  # when each live round steps
        # The leader is the only writer of these; kept here so a price event reads no table.
        self.paused = False
        self._not_opening: str | None = None  # every pair's, as hedgectl shows it

    @property
    def symbols(self) -> dict[str, str]:
        """The first pair's symbols (the only pair of a `[pair]` configuration)."""
        return self.pairs.first.symbols

    @property
    def blocked(self) -> str | None:
        """Why rounds cannot open on some pair: each blocked pair's reason, or None."""
        reasons = [self._named(p, p.blocked) for p in self.pairs if p.blocked]
        return "; ".join(reasons) or None

    @property
    def opened(self) -> int:
        return sum(p.opened for p in self.pairs)

    @property
    def resumed(self) -> int:
        return sum(p.resumed for p in self.pairs)

    def _named(self, pair: Pair, why: str) -> str:
        """`why` about one pair, prefixed with its name when the daemon trades several."""
        return why if len(self.pairs) == 1 else f"{pair.name}: {why}"

    # -- start-up ------------------------------------------------------------------------

    async def start(self) -> Report:
        """Start the clients and streams, then lead (as soon as the lease can be taken)."""
        for pair in self.pairs:
            if not pair.strategy.backstop_stop:
                why = _(
                    "strategy.backstop_stop = 0: no stop order rests on the venues, so an open "
                    "leg has no stop while no daemon runs"
                )
                log.warning("%s", self._named(pair, why))
        await self.start_clients()
        report = await self.stand_by()
        assert report is not None, "stopped before leading"
        return report

    async def start_clients(self) -> None:
        """What a standby runs too: clients started, rules loaded, prices streaming."""
        for venue in self.venues.values():
            await venue.start()
        for pair in self.pairs:
            pair.rules = {v: await self.venues[v].rules(pair.symbols[v]) for v in VENUES}
        self._streams = [asyncio.create_task(self._stream(v)) for v in VENUES]
        self._streams += [asyncio.create_task(self._order_stream(v)) for v in VENUES]
        await self._first_prices()
        for pair in self.pairs:
            try:
                opening.size(pair.strategy, pair.rules, self._quotes(pair))
            except SizingRefused as e:
                if len(self.pairs) == 1:
                    raise
                raise type(e)(self._named(pair, str(e))) from None
        for v in VENUES:
            self.venues[v].on_reconnect(self._on_reconnect)
        # renews the lease while held (a lost one wakes the loop) and checks in
        self._keeper = asyncio.create_task(self.lease.keep(self._wake))

    async def _first_prices(self) -> None:
        """Every market's price, by REST at once and then from the streams or by REST again
        (throttled), for up to `FIRST_PRICES_SECONDS`: a start right after a busy minute
        finds the venue's request budget spent and waits it out rather than exit."""
        await self.poll_quotes(force=True)
        deadline = time.monotonic() + FIRST_PRICES_SECONDS
        while self._stale() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            await self.poll_quotes()

    async def stand_by(self, retake: bool = False) -> Report | None:
        """A hot standby until this daemon holds the book's lease (nothing is sent, nothing
        written), then the take-over; None if stopped first. `retake`: one attempt even
        though stopping (a leader that lost the lease while flattening on its way out
        finishes the flatten, unless another daemon has taken the book meanwhile)."""
        shown = None
        while retake or not self.stopping.is_set():
            retake = False
            taken = await self.lease.try_take()
            if taken:
                try:
                    return await self._take_over(taken)
                except (Deposed, SQLAlchemyError) as e:  # lost it again on the way in
                    await self._step_down(f"{type(e).__name__}: {e}")
                    continue
            status = standby_status(self.lease.seen, self.lease.fleet)
            if status != shown:
                log.info("%s", status)
                shown = status
            await self.lease.check_in()
            self.notify(READY="1", WATCHDOG="1", STATUS=status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.lease.timing.poll)
        return None

    async def _take_over(self, taken: Sequence[Taken]) -> Report:
        """Lead the books taken: the rounds as the store has them, made to agree with the
        venues by the one reconciliation path (which waits out the signature window of any
        unsure order)."""
        self._forget()
        self.store.cache_live_rounds()  # the leader is the one writer of rounds and orders
        self.leading = True
        report = await self._lead(taken, every=True)
        self.notify(READY="1", STATUS=self.status_line())
        return report

    async def _lead(self, taken: Sequence[Taken], every: bool = False) -> Report:
        """Trade the pairs of the books just taken (`every` pair, on taking the lease; one
        or a few more when a fleet moves books): writes fenced by every book held, the new
        books' venues reconciled, their live rounds stepped from the next pass."""
        claim = self.lease.claim
        for t in taken:
            before = t.before
            if t.takeover and before is not None:
                log.warning(
                    _("taking over %s from %s pid %s (its lease lapsed): epoch %s"),
                    t.lease.book,
                    before.host,
                    before.pid,
                    t.lease.epoch,
                )
            else:
                log.info("leading %s (epoch %s)", t.lease.book, t.lease.epoch)
        self._scope()
        if not every:  # what another daemon wrote on the books taken is in the database only
            self.store.drop_cache()
            self.store.cache_live_rounds()
        books = {t.lease.book for t in taken}
        new = [p for p in self.pairs.led() if every or p.book in books]
        for t in taken:
            self.store.journal(
                None,
                "lease_taken",
                book=t.lease.book,
                epoch=t.lease.epoch,
                holder=claim.holder,
                host=claim.host,
                pid=claim.pid,
                takeover=t.takeover,
            )
        await self.lease.check_in(force=True)
        for t in taken:
            self.observer.leadership(t.lease.book, True, t.takeover)
        self._read_flags()
        for pair in new:
            pair.forget()
            pair.cooldown_from(self.store.last_ended_at(pair.name), time.monotonic())
        self._not_opening = self.store.get_meta("not_opening")
        try:
            report = await self.recover(None if every else new)
        except (CredentialsRefused, SymbolNotListed):  # no retry can help: exit 78
            raise
        except (VenueError, Unresolved) as e:  # retried with back-off; no round opens meanwhile
            log.warning(_("reconciliation on taking the lease failed: %s; retrying"), e)
            report = Report()
            self._reconcile_due = True
        self._last_poll = time.monotonic()  # reconciliation has just read every order
        for r in self.store.active_rounds():
            if r.id and r.state in LIVE_STATES and r.id not in self.schedule:
                pair = await self._pair_of(r)
                pair.live.add(r.id)
                pair.resumed += 1
                self.schedule.track(r.id)
        return report

    def _holds_market(self) -> bool:
        """Whether the book of the order or cancel being sent is still held (a fleet's
        daemon gives books up while it holds others)."""
        market, ours = market_in_hand(), self.store.scope
        return market is None or ours is None or ours(*market)

    def _scope(self) -> None:
        """Writes stand on every book held; in a fleet, the store shows only their rounds."""
        self.store.fence = self.lease.fence()
        ours = self.pairs.lead(self.lease.held)
        self.store.scope = ours if self.lease.fleet else None

    def _read_flags(self) -> None:
        """What hedgectl's pause and flatten left in the store; in a fleet, read again at
        every slow poll, since another daemon of the fleet may have applied the command."""
        self.paused = self.store.get_meta("paused") == "1"
        flatten = self.store.get_meta("flatten")
        if self.leading and flatten is not None and flatten != self._flattened:
            if self._flattened is not None:  # asked since this daemon last looked
                self.close_all(Trigger.OPERATOR_CLOSE, "operator flatten")
            self._flattened = flatten

    async def _move_books(self) -> None:
        """A fleet's look asked this daemon to give a book up or take free ones: at a safe
        point for every book (no step, so no order, in flight); the other books carry on."""
        plan, self.lease.plan = self.lease.plan, NOTHING_TO_DO
        # Only steps send; the jobs beside them read (a funding read may wait out the
        # venue's budget for seconds) and write nothing the store's scope no longer allows.
        await self.stepper.settled(jobs=False)
        book = plan.give_up
        if book is not None and (epoch := self.lease.drop(book)) is not None:
            claim = self.lease.claim
            self.store.journal(
                None, "lease_given_up", book=book, holder=claim.holder, pid=claim.pid
            )
            self._scope()  # no write or order of ours stands on it before it is let go
            self._let_go(book)
            await self.lease.give_back({book: epoch})
            self.observer.leadership(book, False, False)
            log.info(_("gave %s up to another daemon of the fleet"), book)
        try:
            taken = await self.lease.take(plan.take)
        except SQLAlchemyError as e:
            log.warning(_("fleet: cannot take %s: %s"), " ".join(plan.take), e)
            taken = []
        if not self.lease.leading:
            await self._step_down(_("every book given up to the fleet"))
        elif taken:
            await self._lead(taken)

    def _let_go(self, book: str) -> None:
        """Forget the rounds of a book given up: another daemon writes them from now on."""
        strays = book == self.pairs.first.book  # rounds on pairs no book covers go with it
        for pair in self.pairs:
            if pair.book == book or (strays and not pair.configured):
                for r in list(pair.live):
                    self._drop(r)
                pair.forget()
        self.store.drop_cache()
        self.store.cache_live_rounds()  # the rounds still ours load again on first use

    def _drop(self, round_id: int) -> None:
        """Forget a round another daemon of the fleet steps from now on."""
        self.schedule.moved(round_id, False)
        self._derived.pop(round_id, None)
        self.funding.let_go(round_id)
        for pair in self.pairs:
            pair.live.discard(round_id)

    async def _step_down(self, why: str) -> None:
        """The lease is lost: every step stops (none could send or write any more) and what
        this daemon knew of the rounds is forgotten; it stands by."""
        log.warning(_("no longer leading %s: %s"), self.lease.name, why)
        held = self.lease.held
        self.lease.lose(why)
        self.leading = False
        await self.stepper.cancel()
        self.store.drop_cache()
        self.store.scope = None
        self._forget()
        for book in held:
            self.observer.leadership(book, False, False)
        await self.lease.check_in(force=True)

    async def recover(self, pairs: Sequence[Pair] | None = None) -> Report:
        """Reconcile `pairs` alone (by default every pair traded, and any order the store
        holds), and halt whatever the venues show that the store cannot explain."""
        led = self.pairs.led() if pairs is None else list(pairs)
        symbols = {v: {p.symbols[v] for p in led} for v in VENUES}
        only = pairs is not None
        report = await reconcile(self.store, self.venues, self.desk, symbols, only=only)
        self.observer.reconciled(report)
        # What the store cannot explain blocks the pair trading that symbol, and only it
        # (every pair, on a symbol none trades).
        by_symbol = self.pairs.by_symbol()
        for pair in led:
            pair.blocked = None
        for pair in led:
            unsure = [why for at, why in report.unresolved_at if by_symbol.get(at, pair) is pair]
            if unsure:
                pair.blocked = f"unresolved orders: {'; '.join(unsure)}"
        for (venue, symbol), (actual, expected) in report.mismatches.items():
            why = f"{venue} {symbol} position {actual}, rounds expect {expected}"
            for pair in led:
                if by_symbol.get((venue, symbol), pair) is pair:
                    pair.blocked = why
            for r in self.store.active_rounds():
                if r.state in LIVE_STATES and symbol in (r.aster_symbol, r.backpack_symbol):
                    self.apply(r, Move(Trigger.HALT, why))
        if self.blocked:
            log.error(_("not opening rounds: %s"), self.blocked)
        self.store.set_meta("blocked", self.blocked or "")  # so hedgectl can show why
        for pair in led:
            self.store.set_meta(f"blocked:{pair.name}", pair.blocked or "")
        self._collect_funding(None if pairs is None else led)
        return report

    def _collect_funding(self, pairs: Sequence[Pair] | None) -> None:
        """Funding paid while the daemon was down, a stream was broken or (`pairs`) the
        books just taken were another daemon's: read beside the loop once the store and
        the venues agree; only those pairs' legs when given (a history read is costly)."""
        if pairs is None:
            self.funding.due = True
            self.funding.on_timer(self.pairs.by_symbol(led=True))
            return
        legs = [(v, s) for p in pairs for v, s in p.symbols.items()]
        self.stepper.spawn(
            f"funding of {' '.join(p.name for p in pairs)}",
            self.funding.collect(legs, history=True, legs=legs),
        )

    async def _pair_of(self, r: RoundRow) -> Pair:
        """The round's pair; for a live round on a pair the configuration no longer lists,
        one made up to see it to its end (rules read now, prices polled while stale)."""
        try:
            return self.pairs.of(r)
        except LookupError:
            pair = self.pairs.adopt(r, self.strategy)
            log.warning(
                _("round %s: pair %s is not configured; the round is seen to its end"),
                r.id,
                pair.name,
            )
            pair.rules = {v: await self.venues[v].rules(pair.symbols[v]) for v in VENUES}
            return pair

    async def stop(self) -> None:
        for t in self._streams:
            t.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)
        try:  # an order under way is seen through rather than left ambiguous
            await self.stepper.settled(SHUTDOWN_STEP_SECONDS)
        finally:
            await self.stepper.cancel()
        if self._keeper is not None:  # the lease was kept until the last step ended
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        for v in self.venues.values():
            await v.close()

    # -- prices --------------------------------------------------------------------------

    def _quotes(self, pair: Pair) -> dict[str, Quote | None]:
        """The pair's fresh quotes by venue (None where stale)."""
        return {v: self.prices.fresh(v, s) for v, s in pair.symbols.items()}

    async def _stream(self, venue: str) -> None:
        """Every pair's prices on the venue, on one stream."""
        symbols = self.pairs.symbols()[venue]
        await self._follow(
            venue, "price", lambda: self.venues[venue].quotes(*symbols), self._quoted
        )

    def _quoted(self, quote: Quote) -> None:
        self.prices.update(quote)

    async def _order_stream(self, venue: str) -> None:
        """Order changes pushed by the venue: a fill is seen at once, not at the next poll."""
        await self._follow(
            venue,
            "order",
            self.venues[venue].order_updates,
            lambda state: self._order_changed(venue, state),
        )

    def _order_changed(self, venue: str, state: OrderState) -> None:
        if not self.leading:  # the leader records it; a standby reads it back when it leads
            return
        row = self.store.order_by_client_id(venue, state.client_id)
        if row is not None and row.id is not None:
            try:
                self.store.record_state(row.id, state)
            except (Deposed, SQLAlchemyError) as e:
                self._lose_store(e)
                return
            self.schedule.wake(row.round_id)
            self._wake()  # its round may step

    async def _follow(
        self,
        venue: str,
        what: str,
        items: Callable[[], AsyncIterator[T]],
        take: Callable[[T], None],
    ) -> None:
        """Follow one of a venue's streams for as long as the daemon runs: after a break,
        or an unexpected error (logged with its traceback), it reconnects after a pause that
        grows while it keeps breaking. A stream that ended would leave the daemon blind."""
        pause = 0.5
        while True:
            try:
                async for item in items():
                    take(item)
                    pause = 0.5
            except VenueError as e:
                log.warning(
                    _("%s %s stream broke: %s; reconnecting in %.1fs"),
                    venue,
                    what,
                    e,
                    pause,
                    extra={"venue": venue},
                )
            except Exception:
                log.exception(
                    _("%s %s stream failed; reconnecting in %.1fs"),
                    venue,
                    what,
                    pause,
                    extra={"venue": venue},
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)

    def _on_reconnect(self, stream: str) -> None:
        log.warning(_("%s reconnected; catching up by reconciliation"), stream)
        self._reconcile_due = True
        self._wake()

    async def poll_quotes(self, force: bool = False) -> None:
        """The REST fallback for a venue whose stream has gone quiet."""
        if force or self._stale():
            await self._poll_stale(force)
        now = time.monotonic()
        if self.leading and now - self._last_quote_save >= QUOTE_SAVE_SECONDS:
            self._last_quote_save = now
            self.store.save_quotes((q.venue, q.symbol, q.bid, q.ask) for q in self.prices.all())

    def _stale(self) -> bool:
        fresh = self.prices.fresh
        return any(fresh(v, s) is None for v, s in self._streamed)

    async def _poll_stale(self, force: bool, markets: Sequence[tuple[str, str]] = ()) -> None:
        """A REST quote for each of `markets` (the streamed ones by default) that is stale,
        at most every `_stale_poll` seconds each: the loop passes on every other market's
        event, and a poll per pass would spend the venue's request budget in seconds."""
        now = time.monotonic()
        for v, s in markets or self._streamed:
            due = now - self._stale_polled.get((v, s), -self._stale_poll) >= self._stale_poll
            if force or (due and self.prices.fresh(v, s) is None):
                self._stale_polled[(v, s)] = now
                try:
                    self.prices.update(await self.venues[v].quote(s))
                except VenueError as e:
                    log.warning(
                        _("%s: no price (stream stale, poll failed): %s"), v, e, extra={"venue": v}
                    )
                except Exception:  # a bug in reading a price must not stop the loop
                    log.exception(
                        _("%s: no price (stream stale, poll failed)"), v, extra={"venue": v}
                    )

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (or, in single mode, until the round is done); the exit code."""
        await self.start_clients()
        # What start-up loaded (modules, clients) lives as long as the process: out of the
        # collector's sight, a full collection no longer stops the loop for tens of ms to
        # scan it again.
        gc.collect()
        gc.freeze()
        try:
            while not self._finished():
                if not self.lease.valid():
                    flattening = self.strategy.on_shutdown == "flatten" and self.leading
                    if self.leading:
                        await self._step_down(self.lease.lost or "not renewed in time")
                    await self.stand_by(retake=flattening)
                    continue
                try:
                    if self.lease.plan is not NOTHING_TO_DO:  # a fleet moves a book
                        await self._move_books()
                        continue
                    await self.tick()
                except (Deposed, SQLAlchemyError) as e:
                    self._lose_store(e)
                    continue
                self._watchdog()
                await self._wait()
        finally:
            self._idle.cancel()
            gc.unfreeze()
            await self.stop()
            if self.leading:  # a standby need not wait for the lease to lapse
                await self.lease.release()
            await self.lease.check_out()
        if self.strategy.mode != "single":
            return 0
        if any(r.state == State.HALTED for r in self.store.active_rounds()):
            return 1
        if any(self._blocked_for_good(p) for p in self.pairs):
            log.error(_("single mode: no round can open, exiting: %s"), self.blocked)
            return EX_BLOCKED
        return 0

    def _finished(self) -> bool:
        if self.stopping.is_set():
            return not self.leading or not self.schedule or self.strategy.on_shutdown == "keep"
        if self.strategy.mode != "single":
            return False
        # one round per pair: done when each pair had its round (or can never have one)
        return not self.schedule and all(
            p.opened or p.resumed or self._blocked_for_good(p) for p in self.pairs
        )

    def _blocked_for_good(self, pair: Pair) -> bool:
        """Single mode, nothing opened or resumed on the pair, and the pair is blocked:
        waiting is futile."""
        return not (pair.opened or pair.resumed or self.stopping.is_set()) and bool(pair.blocked)

    def _wake(self) -> None:
        self.prices.changed.set()

    async def _wait(self) -> None:
        """Until something gives the loop work, or for `poll_interval_seconds` at most."""
        self._idle.reset()
        changed = self.prices.changed
        if not changed.is_set():  # work that arrived during the pass: no sleep at all
            await changed.wait()

    def _watchdog(self) -> None:
        """WATCHDOG=1 from the loop itself (a loop that hangs stops sending it), with the
        status line: at most every `watchdog_seconds`, not on every price event."""
        now = time.monotonic()
        if now - self._notified >= self.watchdog_seconds:
            self._notified = now
            self.notify(WATCHDOG="1", STATUS=self.status_line())

    async def tick(self) -> None:
        """One pass: launch the steps of the rounds that are due; it does not wait for them
        (`settled()` does), except before what must not run beside a step."""
        started = time.monotonic()
        self.prices.changed.clear()  # what arrives from here on wakes the next tick
        await self.stepper.raise_failure()
        catch_up = self._reconcile_due and started >= self._catch_up_at
        if catch_up:  # a stream reconnected: what it missed is read back by REST
            await self._catch_up()
        # What is not due costs a comparison, not a coroutine (this runs on every event).
        # Beside the loop: polling many quiet markets one by one must not hold up the pass.
        if self._stale() or started - self._last_quote_save >= QUOTE_SAVE_SECONDS:
            self.stepper.spawn("quotes", self.poll_quotes())
        poll_due = time.monotonic() - self._last_poll >= self._poll_seconds
        if poll_due:
            self._last_poll = time.monotonic()
        if started - self._last_commands >= self.command_poll_seconds:
            await self.apply_commands()
        if self.stopping.is_set() and self.strategy.on_shutdown == "flatten":
            await self.stepper.settled()
            self.close_all(Trigger.SHUTDOWN_FLATTEN, "shutdown")
        self.maybe_open()
        due = self.schedule.due_now(self.prices.take_touched())
        polled: set[int] = set()
        if poll_due:
            polled = self.schedule.timer_due(utcnow())
            if self._finished_since_trim:  # what finished rounds freed, off the price path
                self._finished_since_trim = False
                heap.give_back()
            self.stepper.spawn("resting-order poll", self._poll_resting())
            if self.lease.fleet:  # another daemon of the fleet may have paused or flattened
                self._read_flags()
            self.funding.on_timer(self.pairs.by_symbol(led=True))
            if unstreamed := self.pairs.unstreamed():  # pairs no longer configured
                self.stepper.spawn("unstreamed prices", self._poll_stale(False, unstreamed))
            self.stepper.spawn("wal checkpoint", self._checkpoint())
        if due or polled:
            for r in sorted(due | polled):
                self.stepper.launch(r, r in polled)
        if self.observer is not NULL_OBSERVER:
            ages = {v: self.prices.age(v, s) for v, s in self.symbols.items()}
            self.observer.loop_pass(time.monotonic() - started, ages)

    async def _catch_up(self) -> None:
        """Reconcile after a reconnect; if the venue does not answer, try again later with
        back-off while the rounds go on deciding on what is known (no new round opens)."""
        self._reconcile_due = False
        await self.stepper.settled()
        try:
            await self.recover()
        except (VenueError, Unresolved) as e:
            now = time.monotonic()
            self._reconcile_due = True
            self._catch_up_at = now + self._catch_up_pause
            if self._catch_up_failing_since is None:
                self._catch_up_failing_since = now
            failing = now - self._catch_up_failing_since
            long = failing >= float(self.config.alerts.venue_down_seconds)
            log.log(
                logging.ERROR if long else logging.WARNING,
                _(
                    "catch-up reconciliation failed for %.0fs (%s); retrying in %.0fs, "
                    "rounds go on with what is known"
                ),
                failing,
                e,
                self._catch_up_pause,
            )
            self._catch_up_pause = min(self._catch_up_pause * 2, CATCH_UP_MAX_RETRY)
            return
        self._catch_up_pause = CATCH_UP_FIRST_RETRY
        self._catch_up_failing_since = None

    async def settled(self) -> None:
        """Wait for the steps under way (tests and benchmarks: a pass, then its effects)."""
        await self.stepper.settled()

    async def _poll_resting(self) -> None:
        """The slow timer's check of resting orders (take-profits, backstops), batched: one
        open-orders read per venue and symbol, not one order lookup per round, beside the loop
        (a price event does not wait for it). The rounds whose resting order is no longer as stored
        (filled, partly filled, fired, gone) are stepped to look it up."""
        resting = [  # from the in-memory orders: no table scan on the loop every 5 s
            o
            for r in sorted(self.schedule.live)
            for o in self.store.orders_of(r)
            if o.purpose in (TAKE_PROFIT, BACKSTOP) and not o.terminal
        ]
        moved: set[int] = set()
        for venue, symbol in sorted({(o.venue, o.symbol) for o in resting}):
            try:
                listed = await self.venues[venue].open_orders(symbol)
            except VenueError as e:
                log.warning(_("%s: cannot list open orders: %s"), venue, e, extra={"venue": venue})
                continue
            open_now = {s.client_id: s.filled_qty for s in listed}
            moved |= {
                o.round_id
                for o in resting
                if (o.venue, o.symbol) == (venue, symbol)
                and open_now.get(o.client_id or "") != o.filled_qty
            }
        for r in sorted(moved & self.schedule.live):
            self.stepper.launch(r, True)

    def _pair_funding(self, pair: Pair) -> Callable[[], dict[str, FundingInfo]]:
        """Each venue's funding for the pair, as the collector last read it."""

        def funding() -> dict[str, FundingInfo]:
            infos = self.funding.infos
            return {v: infos[(v, s)] for v, s in pair.symbols.items() if (v, s) in infos}

        return funding

    def _open_shorts(self, pair: Pair) -> Callable[[], set[str]]:
        """Where the pair's live rounds hold their shorts (the store's cache: no table read)."""

        def shorts() -> set[str]:
            rounds = (self.store.get_round(r) for r in pair.live)
            return {r.short_venue for r in rounds if r is not None}

        return shorts

    def _funding_in(self, round_id: int) -> None:
        """A flat round's funding is collected: step it to DONE."""
        self.schedule.wake(round_id)
        self._wake()

    async def _checkpoint(self) -> None:
        # in a thread: SQLite lets go of the GIL while it copies pages and syncs
        await asyncio.to_thread(self.store.checkpoint)

    def maybe_open(self) -> list[RoundRow]:
        """Open a round on every pair that nothing forbids; why not, stored on change."""
        opened: list[RoundRow] = []
        why_not = self._why_daemon_not_open()
        if why_not is None:
            led = self.pairs.led()
            for pair in led:
                if (why := self._why_pair_not_open(pair)) is None:
                    opened.append(self._open(pair))
                if why != pair.not_opening:
                    pair.not_opening = why
                    self.store.set_meta(f"not_opening:{pair.name}", why or "")
            reasons = [self._named(p, p.not_opening) for p in led if p.not_opening]
            why_not = "; ".join(reasons) if len(reasons) == len(led) else None
        if why_not != self._not_opening:  # stored on change only: hedgectl shows it
            if why_not:
                log.info("not opening a round: %s", why_not)
            self._not_opening = why_not
            self.store.set_meta("not_opening", why_not or "")
        return opened

    def _open(self, pair: Pair) -> RoundRow:
        pair.opened += 1
        short, why = self.entries[pair.name].direction()
        r = self.store.create_round(pair.symbols[ASTER], pair.symbols[BACKPACK], short, why)
        assert r.id is not None
        pair.live.add(r.id)
        self.schedule.track(r.id)
        return r

    def _why_not_open(self) -> str | None:
        """Why no round opens now: the daemon's reason, or every pair's (None: one may)."""
        if (why := self._why_daemon_not_open()) is not None:
            return why
        led = self.pairs.led()
        reasons = [self._named(p, w) for p in led if (w := self._why_pair_not_open(p))]
        return "; ".join(reasons) if len(reasons) == len(led) else None

    def _why_daemon_not_open(self) -> str | None:
        """What keeps every pair from opening a round; None: ask each pair."""
        if self.stopping.is_set():
            return "stopping"
        if self._reconcile_due:
            return "catching up with the venues after a stream reconnect"
        if self.paused:
            return "paused by operator"
        for name, venue in self.venues.items():
            if venue.crowded():  # a round that opens must have the requests to end
                return f"{name}: request budget spent past the share kept for open rounds"
        return None

    def _why_pair_not_open(self, pair: Pair) -> str | None:
        s = pair.strategy
        if not pair.configured:
            return "not in the configuration: its rounds end, none opens"
        if pair.blocked:
            return pair.blocked
        if self.strategy.mode == "single" and (pair.opened or pair.resumed):
            return "single mode: one round only"
        if s.max_rounds and pair.opened >= s.max_rounds:
            return f"max_rounds {s.max_rounds} reached"
        if len(pair.live) >= s.max_concurrent_rounds:
            return f"{len(pair.live)} rounds open (max_concurrent_rounds)"
        if self.realized_today(pair) <= -s.daily_loss_limit_usdt:
            return f"daily loss limit {s.daily_loss_limit_usdt} reached"
        if time.monotonic() < pair.cooldown_until:
            return pair.cooldown_note
        if any(q is None for q in self._quotes(pair).values()):
            return "no fresh prices"
        return self.entries[pair.name].why_not_open(utcnow())

    # -- one round -----------------------------------------------------------------------

    async def step(self, round_id: int, poll_due: bool = False) -> None:
        """Step a round until it rests, then index the prices it watches from there. A step
        that raises (a bug) halts its round alone: the others and the daemon go on."""
        try:
            await self._step(round_id, poll_due)
        except NotHeld:  # another daemon's round: it is stepped there, not here
            log.exception(
                _("a write on a book this daemon does not hold"), extra={"round_id": round_id}
            )
            self._drop(round_id)
        except (Deposed, SQLAlchemyError) as e:  # the store failed, not the round
            self._lose_store(e)
        except Exception as e:
            self._halt_on_error(round_id, e)

    def _lose_store(self, e: Exception) -> None:
        """No write landed: stop sending at once and lead again only through the lease
        (taken afresh if it is still ours), reloading and reconciling every round."""
        if isinstance(e, NotHeld):  # a slip of this daemon's own: where it came from
            log.error(_("a write on a book this daemon does not hold"), exc_info=e)
        self.lease.lose(f"{type(e).__name__}: {e}")
        self._wake()

    async def _step(self, round_id: int, poll_due: bool) -> None:
        ctx = await self._settle(round_id, poll_due)
        state = ctx.round.state if ctx else None
        behaviour = BEHAVIOUR.get(State(state)) if state else None
        if ctx is not None and behaviour is not None and behaviour.watch is not None:
            self.schedule.watch(round_id, behaviour.watch(ctx))
        if state in (State.OPENING, State.CLOSING):
            self.schedule.wake(round_id)  # waiting on its own orders, not on a price
        resting = behaviour.resting if behaviour is not None else None
        if ctx is not None and resting is not None and resting(ctx):
            self.schedule.rests(round_id, ctx.round.deadline_at)
        else:  # moving, backing off, or could not be stepped
            self.schedule.restless(round_id)

    async def _settle(self, round_id: int, poll_due: bool) -> RoundContext | None:
        """The round at rest (no decision left on what is known now); None if it stopped
        being live or could not be stepped this time (the slow timer retries it)."""
        for _move in range(MAX_MOVES_PER_STEP):
            r = self.store.get_round(round_id)
            assert r is not None
            if r.state not in LIVE_STATES:
                return None
            pair = await self._pair_of(r)
            ctx = RoundContext(
                r,
                self.store.orders_of(round_id),
                pair.strategy,
                pair.rules,
                self.prices,
                self.desk,
                self.store,
                self.funding,
                utcnow(),
                poll_due,
                self._derived,
            )
            try:
                unresolved = [o for o in ctx.live() if o.unresolved]
                for o in unresolved:
                    await self.desk.resolve(o)
                if unresolved:
                    ctx.reload()
                move = await BEHAVIOUR[State(r.state)].step(ctx)
            except Unresolved as e:
                since = self._unresolved_since.setdefault(round_id, time.monotonic())
                if time.monotonic() - since >= UNRESOLVED_HALT_SECONDS:
                    self.apply(ctx.round, Move(Trigger.HALT, str(e)))
                return None
            except VenueError as e:
                self._trouble(round_id, e)
                return None
            self._unresolved_since.pop(round_id, None)
            self._trouble_logged.pop(round_id, None)
            if move is None:
                return ctx
            self.apply(ctx.round, move)
        return None

    def _halt_on_error(self, round_id: int, e: Exception) -> None:
        why = f"internal error: {type(e).__name__}: {e}"
        log.error(
            _("round %s: step failed, halting the round: %s"),
            round_id,
            why,
            exc_info=e,
            extra={"round_id": round_id},
        )
        self._unresolved_since.pop(round_id, None)
        self._trouble_logged.pop(round_id, None)
        r = self.store.get_round(round_id)
        if r is not None and r.state in LIVE_STATES:
            self.apply(r, Move(Trigger.HALT, why))

    def _trouble(self, round_id: int, e: VenueError) -> None:
        """A venue error retried later: a warning at first, then at most every 30 s (a
        rate-limit back-off would otherwise log one on every price event)."""
        now = time.monotonic()
        level = logging.DEBUG
        if now - self._trouble_logged.get(round_id, -TROUBLE_LOG_SECONDS) >= TROUBLE_LOG_SECONDS:
            self._trouble_logged[round_id] = now
            level = logging.WARNING
        log.log(
            level,
            _("round %s: venue trouble, will retry: %s"),
            round_id,
            e,
            extra={"round_id": round_id},
        )

    def apply(self, r: RoundRow, move: Move) -> RoundRow:
        assert r.id is not None
        machine = RoundMachine(r.state, r.halted_from)
        dest = machine.fire(move.trigger)
        fields = dict(move.fields)
        if move.reason:
            fields["reason"] = move.reason
        source = r.state
        row = self.store.transition(
            r.id, source, dest.value, move.trigger.value, halted_from=machine.halted_from, **fields
        )
        log.log(  # once committed: a deposed daemon's refused move is not reported as made
            logging.ERROR if dest == State.HALTED else logging.INFO,
            _("round %s: %s -> %s (%s)"),
            r.id,
            source,
            dest.value,
            move.reason or move.trigger.value,
            extra={"round_id": r.id, "state": dest.value},
        )
        trigger = move.trigger.value
        self.observer.round_moved(row, source, trigger, move.reason or trigger)
        self.schedule.moved(r.id, dest in LIVE)
        pair = self.pairs.get(r.aster_symbol)
        if pair is not None:
            (pair.live.add if dest in LIVE else pair.live.discard)(r.id)
        if dest not in LIVE:  # nothing of a finished round stays behind
            self._unresolved_since.pop(r.id, None)
            self._trouble_logged.pop(r.id, None)
            self._derived.pop(r.id, None)
        if dest == State.DONE:
            if pair is not None:
                pair.cooldown_from(utcnow(), time.monotonic())
                pair.add_realized(utc_day_start(), row.realized_pnl)
            self._finished_since_trim = True
        return row

    # -- operator commands ---------------------------------------------------------------

    async def apply_commands(self) -> None:
        now = time.monotonic()
        if now - self._last_commands < self.command_poll_seconds:
            return
        self._last_commands = now
        if self.store.any_pending_command():
            await commands.apply_pending(self.store, self, self.stepper.settled)

    # `commands.Helm`: what an operator's command steers

    def pause(self, paused: bool) -> None:
        self.store.set_meta("paused", "1" if paused else "0")
        self.paused = paused

    def flatten(self) -> int:
        n = self.close_all(Trigger.OPERATOR_CLOSE, "operator flatten")
        if self.lease.fleet:  # the other daemons close theirs when they read it
            self._flattened = f"{self.lease.claim.holder}:{time.time_ns()}"
            self.store.set_meta("flatten", self._flattened)
        return n

    def steers(self, round_id: int | None) -> bool:
        """Whether a command is this daemon's to apply: a round's is its book holder's."""
        if round_id is None or self.store.scope is None:
            return True
        r = self.store.get_round(round_id)
        return r is None or self.store.scope("aster", r.aster_symbol)

    def close_all(self, trigger: Trigger, why: str) -> int:
        n = 0
        for r in self.store.active_rounds():
            if r.id is not None and RoundMachine(r.state, r.halted_from).allows(trigger):
                self.apply(r, Move(trigger, why))
                self.schedule.wake(r.id)
                n += 1
        return n

    def move(self, round_id: int, trigger: Trigger, why: str) -> str:
        r = self.store.get_round(round_id)
        if r is None or r.id is None:
            raise LookupError(f"no round {round_id}")
        self.schedule.wake(r.id)
        return self.apply(r, Move(trigger, why)).state

    # -- status --------------------------------------------------------------------------

    def realized_today(self, pair: Pair | None = None) -> Decimal:
        """The realized PnL of today's rounds (UTC), of one pair or of all."""
        if pair is None:
            return sum((self.realized_today(p) for p in self.pairs), Decimal(0))
        day = utc_day_start()
        if pair.pnl_today is None or pair.pnl_today[0] != day:
            pair.pnl_today = (day, self.store.realized_since(day, pair.name))
        return pair.pnl_today[1]

    def status_line(self) -> str:
        ages = [self.prices.age(v, s) for p in self.pairs for v, s in p.symbols.items()]
        age = max((a for a in ages if a is not None), default=None)
        pnl = self.realized_today()
        price_age = "n/a" if age is None else f"{age:.1f}s"
        blocked = f"; blocked: {self.blocked}" if self.blocked else ""
        return f"{len(self.schedule)} rounds open; price age {price_age}; PnL today {pnl}{blocked}"
