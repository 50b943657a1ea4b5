"""The engine on the real venue clients against the wire simulators on loopback (the pattern
of `tests/test_fault_matrix.HttpRig`), instrumented from the outside.

Differences from the test rig, each for a measurement reason:
- each venue simulator runs in a child process (`bench.simproc`), so the daemon's process
  does only the daemon's work: its CPU time is the engine's, and one simulator's work cannot
  shift the other's arrival timestamps;
- the engine is a subclass that only records when each pass (`tick`) starts and ends and
  which price it saw; nothing in `hedged/`, `states/` or `adapters/` is changed;
- the store is a SQLite file on the same disk as the repository, with the daemon's pragmas
  (WAL, synchronous=FULL): every order intent is fsync'ed before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from sqlmodel import col, select

import hedged.adapters.aster.stream as aster_stream
import hedged.adapters.backpack.client as backpack_client
from bench import machine, simproc
from hedged import config as config_mod
from hedged.adapters.aster.client import AsterVenue
from hedged.adapters.aster.http import DEFAULT_POLICY as ASTER_POLICY
from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.aster.wire import book_quote as aster_book_quote
from hedged.adapters.backpack.client import BackpackVenue
from hedged.adapters.backpack.http import DEFAULT_POLICY as BACKPACK_POLICY
from hedged.adapters.backpack.signing import new_keypair
from hedged.adapters.backpack.wire import parse_book_ticker as backpack_parse_book_ticker
from hedged.adapters.base import Venue
from hedged.config import AsterAuth
from hedged.engine import Engine
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.model import Quote
from hedged.pairs import Pair
from hedged.prices import PriceBook
from hedged.reconcile import Report
from hedged.secrets import AsterCredentials, BackpackCredentials, Secret
from hedged.sim.accounts import Accounts, AsterAgent, AsterV1Key, BackpackKey
from hedged.store import OrderRow, RoundRow, Store, utcnow

D = Decimal
ACCOUNT = "bench"
SYMBOLS = {ASTER: "SOLUSDT", BACKPACK: "SOL_USDC_PERP"}
START = D(100)
QTY = D("0.25")  # position_size_usdt 25 at 100
BALANCE = D(10_000_000)  # on each venue: room for thousands of open rounds


# -- which price each quote came from ---------------------------------------------------------
# The clients turn a bookTicker push into a Quote and drop its update id `u`; these wrappers
# (module attributes patched in this process only) note the `u` of the push being parsed. The
# quote is handed to the engine's PriceBook right after, with no await in between.

LAST_U: dict[str, int] = {}


def _book_quote(venue: str, value: object, at: float) -> Quote:
    quote = aster_book_quote(venue, value, at)
    if isinstance(value, dict) and isinstance(value.get("u"), int):
        LAST_U[venue] = value["u"]
    return quote


def _parse_book_ticker(data: Any) -> tuple[str, Decimal, Decimal]:
    parsed = backpack_parse_book_ticker(data)
    if isinstance(data, dict) and isinstance(data.get("u"), int):
        LAST_U[BACKPACK] = data["u"]
    return parsed


vars(aster_stream)["book_quote"] = _book_quote
vars(backpack_client)["parse_book_ticker"] = _parse_book_ticker


class RecordingPriceBook(PriceBook):
    """The engine's PriceBook, noting the update id of the newest quote per venue (and per
    venue and symbol) and when each quote arrived."""

    def __init__(self, max_age: float) -> None:
        super().__init__(max_age)
        self.seen: dict[str, int] = {}
        self.newest: dict[tuple[str, str], int] = {}  # (venue, symbol) -> its quote's u
        self.arrivals: list[tuple[float, str, int]] = []  # (t, venue, u), when recording
        self.recording = False

    def update(self, quote: Quote) -> None:
        super().update(quote)
        u = LAST_U.get(quote.venue, -1)
        self.seen[quote.venue] = u
        self.newest[quote.venue, quote.symbol] = u
        if self.recording:
            self.arrivals.append((time.monotonic(), quote.venue, u))

    def oldest(self) -> dict[str, int]:
        """Per venue, the update id of its least recent symbol's quote: every symbol of the
        venue has a quote from that update or a later one."""
        least: dict[str, int] = {}
        for (venue, _symbol), u in self.newest.items():
            least[venue] = min(u, least.get(venue, u))
        return least


@dataclass
class Tick:
    start: float
    end: float
    seen: dict[str, int]  # newest update id per venue in the price book at the start
    # per venue, the update id of its least recent symbol's quote at the start (many pairs)
    oldest: dict[str, int] = field(default_factory=dict)


class BenchEngine(Engine):
    """The daemon's engine, unchanged, with each pass timed from the outside."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book = RecordingPriceBook(float(self.strategy.max_price_age_seconds))
        self.prices = self.book
        self.ticks: list[Tick] = []
        self.record_ticks = False
        self.passes = 0
        self.passed = asyncio.Event()  # set after every pass
        self.reports: list[Report] = []
        self.stepped: dict[int, float] = {}  # round -> when its first step since start ended
        self.many_pairs = len(self.pairs) > 1  # record `Tick.oldest`
        self.opens_on: set[str] | None = None  # the pairs that may open rounds (None: all)

    async def step(self, round_id: int, poll_due: bool = False) -> None:
        await super().step(round_id, poll_due)
        self.stepped.setdefault(round_id, time.monotonic())

    async def tick(self) -> None:
        start = time.monotonic()
        seen = dict(self.book.seen)
        oldest = self.book.oldest() if self.record_ticks and self.many_pairs else {}
        await super().tick()
        if self.record_ticks:
            self.ticks.append(Tick(start, time.monotonic(), seen, oldest))
        self.passes += 1
        self.passed.set()

    def _why_pair_not_open(self, pair: Pair) -> str | None:
        """As the daemon's, checked in full; then a pair outside `opens_on` stays shut (it
        streams its prices and is checked on every pass, but opens nothing)."""
        why = super()._why_pair_not_open(pair)
        if why is None and self.opens_on is not None and pair.name not in self.opens_on:
            return "the benchmark opens rounds on one pair only"
        return why

    async def recover(self, pairs: Sequence[Pair] | None = None) -> Report:
        report = await super().recover(pairs)
        self.reports.append(report)
        return report


# -- the simulators -------------------------------------------------------------------------


@dataclass
class Keys:
    auth: AsterAuth  # Aster "v3" (EIP-712 agent wallet, the default) or "v1" (HMAC)
    accounts: Accounts
    aster: AsterCredentials
    backpack: BackpackCredentials

    @classmethod
    def make(cls, auth: AsterAuth, balance: Decimal) -> Keys:
        bp_secret, bp_public = new_keypair()
        backpack = BackpackCredentials(Secret(bp_public), Secret(bp_secret))
        bp_keys = {bp_public: BackpackKey(bp_public, ACCOUNT)}
        balances = {ACCOUNT: balance}
        if auth == "v3":
            signer_key, signer = new_agent_key()
            _, user = new_agent_key()
            aster = AsterCredentials(user, signer, Secret(signer_key), None, None)
            agents = {signer.lower(): AsterAgent(user, signer, ACCOUNT)}
            accounts = Accounts(aster_agents=agents, backpack=bp_keys, balances=balances)
        else:
            key, secret = secrets.token_hex(16), secrets.token_hex(32)
            aster = AsterCredentials(None, None, None, Secret(key), Secret(secret))
            v1 = {key: AsterV1Key(key, secret, ACCOUNT)}
            accounts = Accounts(aster_v1=v1, backpack=bp_keys, balances=balances)
        return cls(auth, accounts, aster, backpack)


@dataclass
class Sims:
    """Both venue simulators, one child process each."""

    procs: dict[str, multiprocessing.process.BaseProcess]
    api: dict[str, int]
    ctl: dict[str, int]
    session: aiohttp.ClientSession

    @classmethod
    async def start(
        cls,
        keys: Keys,
        *,
        real_limits: bool,
        fees: Mapping[str, tuple[Decimal, Decimal]] | None = None,
        pairs: int = 1,
    ) -> Sims:
        """`fees`: (taker, maker) per venue (default: the simulator's own); `pairs`: each
        venue quotes the symbols of that many pairs (`pair_symbols`)."""
        ctx = multiprocessing.get_context("spawn")
        procs: dict[str, multiprocessing.process.BaseProcess] = {}
        pipes = {}
        for venue in VENUES:
            more = tuple(pair_symbols(i)[VENUES.index(venue)] for i in range(1, pairs))
            spec = simproc.VenueSpec(venue, SYMBOLS[venue], keys.accounts, START)
            spec = replace(spec, real_limits=real_limits, more=more)
            if fees is not None:
                spec = replace(spec, taker_fee=fees[venue][0], maker_fee=fees[venue][1])
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=simproc.serve, args=(spec, child), daemon=True)
            proc.start()
            assert proc.pid is not None
            machine.pin_child(proc.pid)
            child.close()
            procs[venue], pipes[venue] = proc, parent
        api, ctl = {}, {}
        loop = asyncio.get_running_loop()
        for venue, pipe in pipes.items():
            ready = await loop.run_in_executor(None, pipe.poll, 60)
            if not ready:
                raise RuntimeError(f"{venue} simulator did not start")
            ports = pipe.recv()
            api[venue], ctl[venue] = ports["api"], ports["ctl"]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600))
        return cls(procs, api, ctl, session)

    def url(self, venue: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.api[venue]}"

    async def call(self, venue: str, path: str, payload: object = None) -> Any:
        url = f"http://127.0.0.1:{self.ctl[venue]}/ctl/{path}"
        if payload is None and path in ("log", "ping"):
            async with self.session.get(url) as r:
                return await r.json()
        async with self.session.post(url, json=payload or {}) as r:
            return await r.json()

    async def both(self, path: str, payload: object = None) -> dict[str, Any]:
        answers = await asyncio.gather(*(self.call(v, path, payload) for v in VENUES))
        return dict(zip(VENUES, answers, strict=True))

    async def price(self, price: Decimal | str) -> dict[str, Any]:
        return await self.both("price", {"price": str(price)})

    async def log(self, venue: str, since: int = 0) -> tuple[list[list[Any]], int]:
        url = f"http://127.0.0.1:{self.ctl[venue]}/ctl/log?since={since}"
        async with self.session.get(url) as r:
            body = await r.json()
        return body["entries"], body["next"]

    async def stop(self) -> None:
        for venue in VENUES:
            with contextlib.suppress(aiohttp.ClientError):
                await self.call(venue, "shutdown")
        await self.session.close()
        loop = asyncio.get_running_loop()
        for proc in self.procs.values():
            await loop.run_in_executor(None, proc.join, 10)
            if proc.is_alive():
                proc.terminate()  # our own child, by its handle


# -- the daemon side --------------------------------------------------------------------------


def strategy_config(workdir: Path, **strategy: object) -> config_mod.Config:
    overrides: dict[str, object] = {
        "daemon.state_dir": str(workdir),
        "daemon.log_level": "INFO",
        "strategy.cooldown_seconds": 0,
        "strategy.daily_loss_limit_usdt": "1000000",
    }
    overrides |= {f"strategy.{k}": v for k, v in strategy.items()}
    return config_mod.load(None, overrides=overrides)


def clients(cfg: config_mod.Config, sims: Sims, keys: Keys, *, unpaced: bool) -> dict[str, Venue]:
    """The daemon's own clients, pointed at the simulators. `unpaced`: lift the clients'
    self-imposed request pacing (Backpack 10 requests/s, Aster reads past half the weight
    budget), for scenarios that compress many round lifecycles into a minute."""
    aster_cfg = replace(
        cfg.aster, base_url=sims.url(ASTER), ws_url=sims.url(ASTER, "ws"), auth=keys.auth
    )
    bp_cfg = replace(cfg.backpack, base_url=sims.url(BACKPACK), ws_url=sims.url(BACKPACK, "ws"))
    aster = replace(ASTER_POLICY, weight_budget=10**9) if unpaced else ASTER_POLICY
    backpack = replace(BACKPACK_POLICY, requests_per_second=0) if unpaced else BACKPACK_POLICY
    aster_symbols = [p.aster_symbol for p in cfg.pairs]
    backpack_symbols = [p.backpack_symbol for p in cfg.pairs]
    return {
        ASTER: AsterVenue(aster_cfg, keys.aster, aster_symbols, http_policy=aster),
        BACKPACK: BackpackVenue(bp_cfg, keys.backpack, backpack_symbols, http_policy=backpack),
    }


def setup_logging(path: Path) -> None:
    """As the daemon does (INFO, its text format), into a file."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logging.basicConfig(level="INFO", handlers=[handler], force=True)
    logging.getLogger("transitions").setLevel(logging.WARNING)


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


@dataclass
class Rig:
    workdir: Path
    keys: Keys
    sims: Sims
    cfg: config_mod.Config
    store: Store
    venues: dict[str, Venue]
    engine: BenchEngine
    task: asyncio.Task[int] | None = None
    ready_at: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def create(
        cls,
        workdir: Path,
        *,
        auth: AsterAuth = "v3",
        real_limits: bool = True,
        unpaced: bool = False,
        balance: Decimal = BALANCE,
        strategy: Mapping[str, object] | None = None,
        store_url: str | None = None,
        config_fees: bool = False,
        pairs: int = 1,
    ) -> Rig:
        """`store_url`: an empty database (default: a SQLite file in `workdir`).
        `config_fees`: the simulators charge the configuration's fees, as in paper mode.
        `pairs`: the daemon trades that many pairs (`pair_symbols`), every one quoted by both
        venues."""
        fresh_dir(workdir)
        keys = Keys.make(auth, balance)
        cfg = strategy_config(workdir, **(strategy or {}))
        if pairs > 1:
            traded = (config_mod.PairConfig(*pair_symbols(i), cfg.strategy) for i in range(pairs))
            cfg = replace(cfg, pairs=tuple(traded))
        fees = {
            ASTER: (cfg.aster.taker_fee, cfg.aster.maker_fee),
            BACKPACK: (cfg.backpack.taker_fee, cfg.backpack.maker_fee),
        }
        sims = await Sims.start(
            keys, real_limits=real_limits, fees=fees if config_fees else None, pairs=pairs
        )
        store = Store(store_url or f"sqlite:///{workdir / 'hedged.db'}")
        venues = clients(cfg, sims, keys, unpaced=unpaced)
        engine = BenchEngine(cfg, store, venues, notify=lambda **f: None)
        return cls(workdir, keys, sims, cfg, store, venues, engine)

    def run(self) -> None:
        """Start the daemon loop (`Engine.run`: recover, then loop on price events)."""

        def notify(**fields: str) -> None:
            if "READY" in fields and self.ready_at is None:
                self.ready_at = time.monotonic()

        self.engine.notify = notify
        self.task = asyncio.create_task(self.engine.run())

    async def until_stepped(self, rounds: int, timeout: float) -> None:
        """Until `rounds` rounds have each finished a step (they step as their own tasks)."""
        deadline = time.monotonic() + timeout
        while len(self.engine.stepped) < rounds:
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.engine.stepped)} rounds stepped, wanted {rounds}")
            await asyncio.sleep(0.01)

    async def until_passes(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.engine.passes < n:
            self._check_alive()
            self.engine.passed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"engine made {self.engine.passes} passes, wanted {n}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.engine.passed.wait(), min(left, 1.0))

    def _check_alive(self) -> None:
        if self.task is not None and self.task.done():
            self.task.result()  # raises what killed it
            raise RuntimeError("the engine loop ended")

    async def stop_engine(self, grace: float = 30.0) -> None:
        if self.task is None:
            return
        self.engine.stopping.set()
        self.engine.prices.changed.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except TimeoutError:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        except Exception as e:  # report, do not mask the figures already taken
            self.notes["engine_error"] = f"{type(e).__name__}: {e}"
        self.task = None

    async def close(self) -> None:
        await self.stop_engine()
        await self.engine.stop()  # idempotent: closes the clients if run() did not
        self.store.close()
        await self.sims.stop()


# -- seeding open rounds ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRound:
    state: str  # MONITORING or LIMIT_SET
    aster_symbol: str = SYMBOLS[ASTER]
    backpack_symbol: str = SYMBOLS[BACKPACK]
    survivor: str | None = None  # LIMIT_SET: the venue whose leg is still open
    # The venue of the round's short: the same for every round of a plan (rounds share one
    # position per venue, and a reduce-only take-profit facing the other way is refused).
    short: str = ASTER

    def entry_side(self, venue: str) -> str:
        return "SELL" if venue == self.short else "BUY"

    def exit_side(self, venue: str) -> str:
        return "BUY" if venue == self.short else "SELL"


# By the leg's entry side: a short sells at the bid, a long buys at the ask (the book at 100,
# spread 2 bp); its take-profit is the entry -/+ 1.2 %, toward the tick.
ENTRY_PRICE = {"SELL": D("99.99"), "BUY": D("100.01")}
TP_PRICE = {"SELL": D("98.78"), "BUY": D("101.22")}


def seed_rounds(store: Store, venues: Mapping[str, Venue], plan: Iterable[SeedRound]) -> Any:
    """Write open rounds into the store as the engine leaves them (entries filled, in
    LIMIT_SET the loser stopped and a take-profit accepted), in one transaction. Returns
    what the venues must hold for it: per venue the net position on the engine's pair and
    the resting take-profits (client id, side, qty, price)."""
    now = utcnow()
    client_ids = {name: v.client_id for name, v in venues.items()}
    positions = {ASTER: D(0), BACKPACK: D(0)}
    resting: dict[str, list[dict[str, Any]]] = {ASTER: [], BACKPACK: []}
    with store.session() as s:
        rounds: list[tuple[RoundRow, SeedRound]] = []
        for p in plan:
            r = RoundRow(
                state=p.state,
                aster_symbol=p.aster_symbol,
                backpack_symbol=p.backpack_symbol,
                short_venue=p.short,
                qty=QTY,
                opened_at=now,
                deadline_at=now + timedelta(days=1),
                created_at=now,
            )
            s.add(r)
            rounds.append((r, p))
        s.flush()
        orders: list[tuple[OrderRow, SeedRound]] = []
        for r, p in rounds:
            assert r.id is not None
            for v in VENUES:
                symbol = r.aster_symbol if v == ASTER else r.backpack_symbol
                orders.append((_filled(r.id, v, symbol, "ENTRY", p.entry_side(v), now), p))
            if p.state == "LIMIT_SET":
                assert p.survivor is not None
                loser = BACKPACK if p.survivor == ASTER else ASTER
                symbol = r.aster_symbol if loser == ASTER else r.backpack_symbol
                orders.append((_filled(r.id, loser, symbol, "STOP", p.exit_side(loser), now), p))
                sv = p.survivor
                symbol = r.aster_symbol if sv == ASTER else r.backpack_symbol
                tp = OrderRow(
                    round_id=r.id,
                    venue=sv,
                    symbol=symbol,
                    purpose="TAKE_PROFIT",
                    side=p.exit_side(sv),
                    type="LIMIT",
                    qty=QTY,
                    price=TP_PRICE[p.entry_side(sv)],
                    reduce_only=True,
                    status="NEW",
                    created_at=now,
                    updated_at=now,
                )
                orders.append((tp, p))
        for o, _ in orders:
            s.add(o)
        s.flush()
        for o, _ in orders:
            assert o.id is not None
            o.client_id = client_ids[o.venue](store.namespace, o.id)
            on_pair = o.symbol == SYMBOLS[o.venue]
            if not on_pair:
                continue
            sign = 1 if o.side == "BUY" else -1
            if o.status == "FILLED":
                positions[o.venue] += sign * o.filled_qty
            elif o.purpose == "TAKE_PROFIT":
                resting[o.venue].append(
                    {
                        "client_id": o.client_id,
                        "side": o.side,
                        "type": "LIMIT",
                        "qty": str(o.qty),
                        "price": str(o.price),
                        "reduce_only": True,
                    }
                )
        s.commit()
    return positions, resting


def _filled(round_id: int, venue: str, symbol: str, purpose: str, side: str, now: Any) -> OrderRow:
    price = ENTRY_PRICE[side] if purpose == "ENTRY" else D(100)
    return OrderRow(
        round_id=round_id,
        venue=venue,
        symbol=symbol,
        purpose=purpose,
        side=side,
        type="MARKET",
        qty=QTY,
        reduce_only=purpose != "ENTRY",
        status="FILLED",
        venue_order_id=f"seed-{round_id}-{purpose}",
        filled_qty=QTY,
        avg_price=price,
        created_at=now,
        updated_at=now,
    )


async def seed_venues(
    sims: Sims,
    positions: Mapping[str, Decimal],
    resting: Mapping[str, list[dict[str, Any]]],
) -> None:
    """Open the positions and rest the take-profits in the simulators' matching cores."""
    for venue in VENUES:
        qty = positions[venue]
        orders: list[dict[str, Any]] = []
        if qty != 0:
            side = "BUY" if qty > 0 else "SELL"
            tag = "seedpos" if venue == ASTER else "4000000001"  # not one of ours
            orders.append({"client_id": tag, "side": side, "type": "MARKET", "qty": str(abs(qty))})
        orders += resting[venue]
        for i in range(0, len(orders), 500):
            answer = await sims.call(
                venue, "seed", {"account": ACCOUNT, "orders": orders[i : i + 500]}
            )
            errors = [r for r in answer["results"] if "error" in r]
            if errors:
                raise RuntimeError(f"{venue}: seeding refused: {errors[:3]}")


async def adopt_venue_ids(rig: Rig) -> int:
    """Give the seeded take-profits the venue's own view (order id, status) as the engine
    would have recorded it when they were accepted, in one transaction (read with a
    throw-away pair of clients: a closed client cannot be started again)."""
    venues = clients(rig.cfg, rig.sims, rig.keys, unpaced=True)
    states = {}
    for v in VENUES:
        await venues[v].start()
        for o in await venues[v].open_orders(SYMBOLS[v]):
            states[(v, o.client_id)] = o
        await venues[v].close()
    n = 0
    with rig.store.session() as s:
        rows = s.exec(select(OrderRow).where(col(OrderRow.status) == "NEW"))
        for row in rows:
            state = states.get((row.venue, row.client_id or ""))
            if state is None:
                continue
            row.venue_order_id = state.venue_order_id
            row.status = state.status.value
            row.filled_qty = state.filled_qty
            row.avg_price = state.avg_price
            n += 1
        s.commit()
    return n


async def seeded_rig(
    workdir: Path,
    plan: list[SeedRound],
    *,
    auth: AsterAuth = "v3",
    real_limits: bool = True,
    unpaced: bool = False,
    strategy: Mapping[str, object] | None = None,
) -> tuple[Rig, float]:
    """A rig whose store and venues hold `plan`'s open rounds, with a fresh store handle and
    engine (as a restarted daemon has); the seconds the seeding took."""
    t0 = time.monotonic()
    # The seeded rounds carry their entries and take-profits, not backstops: with backstops
    # on, the restarted engine would first place two per round, and at hundreds of rounds
    # that measures the venues' rate limits, not recovery or a price event.
    strategy = {"backstop_stop": "0", **(strategy or {})}
    rig = await Rig.create(
        workdir, auth=auth, real_limits=real_limits, unpaced=unpaced, strategy=strategy
    )
    positions, resting = seed_rounds(rig.store, rig.venues, plan)
    await rig.sims.price(START)
    await seed_venues(rig.sims, positions, resting)
    await adopt_venue_ids(rig)
    rig.store.close()
    return rig, time.monotonic() - t0


def restart(rig: Rig) -> float:
    """Open the store and build the engine as a freshly started daemon does; when it began."""
    t0 = time.monotonic()
    rig.store = Store(f"sqlite:///{rig.workdir / 'hedged.db'}")
    rig.engine = BenchEngine(rig.cfg, rig.store, rig.venues, notify=lambda **f: None)
    return t0


def pair_symbols(i: int) -> tuple[str, str]:
    """Symbol pair i of the scale scenario: 0 is the engine's own (SOL), then P01..P19."""
    if i == 0:
        return SYMBOLS[ASTER], SYMBOLS[BACKPACK]
    return f"P{i:02d}USDT", f"P{i:02d}_USDC_PERP"


def request_counts(
    entries: Iterable[list[Any]], t0: float, t1: float
) -> tuple[dict[str, int], int, int]:
    """(count per "METHOD path", total REST requests, total Aster weight) in [t0, t1];
    WebSocket upgrades are counted under "WS" and not in the total."""
    counts: dict[str, int] = {}
    total = weight = 0
    for t, method, path, _cid, w in entries:
        if not t0 <= t <= t1:
            continue
        ws = method == "GET" and (path == "/" or path.startswith("/ws"))
        key = "WS connect" if ws else f"{method} {path}"
        counts[key] = counts.get(key, 0) + 1
        if not ws:
            total += 1
            weight += int(w)
    return counts, total, weight
