"""Scenarios 1 and 2: stop reaction and entry leg skew, one round at a time.

Each cycle: the engine opens a round at 100 (both entries sent in one `asyncio.gather`:
their arrival times at the two simulators give the leg skew); a price path drawn in
`bench.paths` is played on both venues, one event every `dt`, starting `lead` events before
the event that crosses the stop (so the engine is in its steady event cadence when the
crossing arrives); the loser's simulator notes when the stop's POST /order arrived. Then the
price goes back to 100 and the round is closed by its time limit; the next one opens.
Directions alternate: up (the Aster short stops), down (the Backpack long stops).

Reaction = arrival of the stop order at the simulator - publication of the crossing event,
both on CLOCK_MONOTONIC, with the durable intent commit (SQLite WAL, synchronous=FULL) in
between. The same crossings through the original 5-second poller are computed on the same
paths (`bench.paths`), the poller acting with the very reaction latency measured here.

A thousand lifecycles in a minute is far above any venue's rate limit: here the simulators'
limits and the clients' own pacing are lifted (scenario 5 measures REST use with them on).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import multiprocessing
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.http_writer import StreamWriter

from bench import machine, paths
from bench.rig import ENTRY_PRICE, START, Rig
from bench.simproc import order_client_id
from bench.standby import Standby
from bench.stats import summary
from hedged.adapters.backpack import signing as bp_signing
from hedged.config import AsterAuth
from hedged.legs import ASTER, BACKPACK, VENUES

log = logging.getLogger("bench")
STOP_LOSS = Decimal("0.008")


class DiskProbe:
    """A durable SQLite commit (WAL, synchronous=FULL, same disk) every 100 ms, from a
    process of its own (a thread here would wait for this process's GIL after each commit
    and time that instead): how long this disk takes to make a commit durable while the
    benchmark runs (other work on the machine shows up here)."""

    def __init__(self, path: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._results, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_probe_disk, args=(path, self._stop, child), daemon=True)

    def start(self) -> None:
        self._process.start()
        machine.pin_child(self._process.pid)  # type: ignore[arg-type]

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        durations: list[float] = self._results.recv() if self._results.poll(30) else []
        self._process.join(10)
        figures: dict[str, Any] = dict(summary(durations, 1000))
        figures["over_50ms"] = sum(d > 0.05 for d in durations)
        return figures


def _probe_disk(path: Path, stop: Any, results: Connection) -> None:
    durations = []
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    while not stop.wait(0.1):
        t0 = time.monotonic()
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
        durations.append(time.monotonic() - t0)
    db.close()
    results.send(durations)


class Tracer:
    """Spans of chosen calls (wrapped on the instances, in this process only)."""

    def __init__(self, sent: dict[str, float]) -> None:
        self.on = False
        self.spans: list[tuple[str, float, float]] = []
        self.sent = sent  # client id -> when its order's bytes left (`WireLog`)

    def wrap(self, obj: object, attr: str, name: str) -> None:
        fn: Callable[..., Any] = getattr(obj, attr)
        if inspect.iscoroutinefunction(fn):

            async def traced_async(*args: Any, **kwargs: Any) -> Any:
                t0 = time.monotonic()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    if self.on:
                        self.spans.append((name, t0, time.monotonic()))

            setattr(obj, attr, traced_async)
        else:

            def traced(*args: Any, **kwargs: Any) -> Any:
                t0 = time.monotonic()
                try:
                    return fn(*args, **kwargs)
                finally:
                    if self.on:
                        self.spans.append((name, t0, time.monotonic()))

            setattr(obj, attr, traced)

    def between(self, t0: float, t1: float) -> list[tuple[str, float, float]]:
        return [s for s in self.spans if t0 <= s[1] <= t1]


class SentTimes(dict[str, float]):
    """Client id -> when its order's bytes left. The requests are read for their client ids
    only when one is asked for, not in the socket-write hook: there that reading came
    between an opening's two writes and counted in its skew (7 µs for our Aster order's
    body, 2 for the bare pair's)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[float, bytes]] = []

    def _read(self) -> None:
        written, self.written = self.written, []
        for t, body in written:
            client_id = order_client_id(body.decode(errors="replace"))
            if client_id is not None:
                self.setdefault(client_id, t)

    def get(self, key: str, default: Any = None) -> Any:
        self._read()
        return super().get(key, default)

    def __getitem__(self, key: str) -> float:
        self._read()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._read()
        return super().__contains__(key)


class WireLog:
    """When each order request left this process: aiohttp hands a request's buffered headers
    and its body to the socket in one call, timed here. The entries' skew at our sockets,
    before the simulators' processes are scheduled to read them."""

    def __init__(self) -> None:
        self.sent = SentTimes()
        self._original = StreamWriter._send_headers_with_payload

    def start(self) -> None:
        original, sent = self._original, self.sent

        def timed(writer: StreamWriter, chunk: Any, is_eof: bool) -> None:
            t = time.monotonic()
            original(writer, chunk, is_eof)
            sent.written.append((t, bytes(chunk)))

        StreamWriter._send_headers_with_payload = timed  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        StreamWriter._send_headers_with_payload = self._original  # type: ignore[method-assign]


def trace(rig: Rig, sent: dict[str, float]) -> Tracer:
    tracer = Tracer(sent)
    tracer.wrap(rig.store, "add_intents", "intent_commit")
    for v in VENUES:
        tracer.wrap(rig.venues[v], "prepare", f"prepare_{v}")
    aster_http = rig.venues[ASTER]._http  # type: ignore[attr-defined]
    tracer.wrap(aster_http, "_encode", "sign_aster")
    tracer.wrap(rig.venues[BACKPACK]._http, "prepare", "sign_backpack")  # type: ignore[attr-defined]
    return tracer


class Cycle:
    """Drives the one-round-at-a-time lifecycle."""

    def __init__(self, rig: Rig, timeout: float = 20.0) -> None:
        self.rig = rig
        self.timeout = timeout
        self.price = START

    async def until(self, check: Callable[[], Any], what: str) -> Any:
        """Wait, pass by pass, until `check()` is truthy. Prices keep coming as in a quiet
        market: one now (it wakes the loop for what the bench just asked), then one
        whenever 20 ms pass without a pass of the loop."""
        engine = self.rig.engine
        deadline = time.monotonic() + self.timeout
        nudge = True
        while True:
            self.rig._check_alive()
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {self.timeout}s for {what}")
            if nudge:
                await self.rig.sims.price(self.price)
            engine.passed.clear()
            try:
                await asyncio.wait_for(engine.passed.wait(), 0.02)
                nudge = False
            except TimeoutError:
                nudge = True

    def live_round(self, state: str, after: int) -> int | None:
        for r in self.rig.store.active_rounds():
            if r.id is not None and r.id > after and r.state == state:
                return r.id
        return None

    def state(self, round_id: int) -> str | None:
        r = self.rig.store.get_round(round_id)
        return None if r is None else r.state


async def run(
    out: Path,
    *,
    auth: AsterAuth,
    crossings: int,
    time_cap: float,
    sigma: float,
    dt: float,
    lead: int,
    seed: int,
    profile: Path | None = None,
    sensitivity_cells: list[tuple[float, float]] | None = None,
    sensitivity_n: int = 300,
    store_url: str | None = None,
    standby: bool = False,
    pairs: int = 1,
) -> dict[str, Any]:
    """`standby`: a standby daemon runs beside the leader on the same store (V1 keys).
    `pairs`: the daemon trades that many pairs, every one streaming the same price path on
    both venues; rounds open on the first only (the others stream and are checked on every
    pass), so each crossing is one pair's stop while every pair's prices keep coming."""
    t_begin = time.monotonic()
    rng = random.Random(seed)
    stops = {
        ASTER: paths.Stop.short(ENTRY_PRICE["SELL"], STOP_LOSS),  # the default: short on Aster
        BACKPACK: paths.Stop.long(ENTRY_PRICE["BUY"], STOP_LOSS),
    }
    drawn = []
    for i in range(crossings):
        loser = ASTER if i % 2 == 0 else BACKPACK
        drawn.append(paths.draw_crossing(rng, stops[loser], START, sigma=sigma, dt=dt, lead=lead))
    t_drawn = time.monotonic()

    rig = await Rig.create(
        out,
        auth=auth,
        real_limits=False,
        unpaced=True,
        strategy={"max_concurrent_rounds": 1},
        store_url=store_url,
        pairs=pairs,
    )
    if pairs > 1:
        rig.engine.opens_on = {rig.cfg.pairs[0].name}
    wire = WireLog()
    tracer = trace(rig, wire.sent)
    beside = Standby(rig, out / "standby") if standby else None
    cycle = Cycle(rig)
    results: list[dict[str, Any]] = []
    no_stop: list[dict[str, Any]] = []
    failures: list[str] = []
    profiler = None
    probe: DiskProbe | None = None
    floor = ReactionFloor(rig, out / "floor.db")
    try:
        wire.start()
        await rig.sims.price(START)
        rig.run()
        await rig.until_passes(1, 60)
        await floor.open()
        if beside is not None:
            await beside.start()
        probe = DiskProbe(out / "probe.db")
        probe.start()
        last_round = 0
        stop_at = time.monotonic() + time_cap
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        for i, crossing in enumerate(drawn):
            if time.monotonic() > stop_at:
                break
            try:
                result = await one_cycle(rig, cycle, tracer, floor, crossing, last_round)
                result["index"] = i
            except (TimeoutError, RuntimeError, KeyError) as e:
                failures.append(f"cycle {i}: {type(e).__name__}: {e}")
                log.warning("cycle %s failed: %s", i, e)
                tracer.on = False
                if len(failures) > 10:
                    break
                last_round = await recover_cycle(rig, cycle, last_round)
                continue
            last_round = result["round"]
            if result.get("no_stop"):
                no_stop.append(result)
                continue
            results.append(result)
        if profiler is not None:
            profiler.stop()
        logs = {v: [e for e in (await rig.sims.log(v))[0] if not floor.ours(e)] for v in VENUES}
        skew = await skew_floor(rig, pairs=min(crossings, 1000), sent=wire.sent)
        commit_post = await floor.close()
    finally:
        wire.stop()
        probe_figures = probe.stop() if probe is not None else {}
        standby_cpu = beside.cpu_share() if beside is not None and beside.proc else None
        standby_exit = beside.stop() if beside is not None else None
        await rig.close()
    if profiler is not None and profile is not None:
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))

    analysis = analyse(
        rig, results, failures, logs, wire.sent, drawn, t_drawn - t_begin, sigma, dt, lead
    )
    analysis["stops_not_sent"] = {
        "count": len(no_stop),
        "why": "the price touched the stop and was back inside when the round decided",
        "events_beyond_in_window": [r["events_beyond"] for r in no_stop],
    }
    analysis["disk_commit_probe_ms"] = probe_figures
    analysis["store"] = rig.store.engine.dialect.name
    if beside is not None:
        analysis["standby_exit"] = standby_exit
        analysis["standby_cpu_share"] = standby_cpu
    analysis["leg_skew_floor_ms"] = skew
    analysis["reaction_floor_ms"] = commit_post
    if sensitivity_cells:
        analysis["overshoot"]["sensitivity"] = paths.sensitivity(
            [r["reaction"] for r in results],
            (stops[ASTER], stops[BACKPACK]),
            START,
            sensitivity_cells,
            sensitivity_n,
            seed + 1,
        )
    return analysis


async def one_cycle(
    rig: Rig,
    cycle: Cycle,
    tracer: Tracer,
    floor: ReactionFloor,
    crossing: paths.Crossing,
    after: int,
) -> dict[str, Any]:
    store, sims = rig.store, rig.sims
    cycle.price = START
    t0 = time.monotonic()
    round_id: int = await cycle.until(
        lambda: cycle.live_round("MONITORING", after), "a round in MONITORING"
    )
    t1 = time.monotonic()
    entries = {o.venue: o for o in store.orders_of(round_id) if o.purpose == "ENTRY"}
    for v in VENUES:
        expected = ENTRY_PRICE[entries[v].side]
        if entries[v].avg_price != expected:
            raise RuntimeError(f"{v} entry at {entries[v].avg_price}, not {expected}")
    await floor.sample()  # the engine waits for prices now, as when the crossing comes
    loser = ASTER if crossing.stop.up else BACKPACK
    other = BACKPACK if loser == ASTER else ASTER
    payload = {
        "mids": crossing.mids(),
        "start_at": time.monotonic() + 0.005,
        "interval": dt_of(crossing),
    }
    rig.engine.book.recording = True
    rig.engine.record_ticks = True
    tracer.on = True
    plays = [
        asyncio.ensure_future(sims.call(loser, "play", {**payload, "stop_on_order": True})),
        asyncio.ensure_future(sims.call(other, "play", payload)),
    ]
    played = await plays[0]
    await sims.call(other, "halt")
    await plays[1]
    t2 = time.monotonic()
    # back to 100, and close the round as an operator would (`hedgectl close`): the engine
    # first finishes what it is doing (the stop's fill, the take-profit), then closes
    await finish(rig, cycle, round_id)
    t3 = time.monotonic()
    tracer.on = False
    rig.engine.book.recording = False
    rig.engine.record_ticks = False
    orders = store.orders_of(round_id)
    stop = next((o for o in orders if o.purpose == "STOP"), None)
    if stop is None or stop.avg_price is None:
        # The price touched the stop and was back inside when the round decided (the engine
        # acts on its newest quote): no stop was sent.
        beyond = sum(paths.beyond(crossing.stop, m) for m in crossing.window[crossing.lead :])
        rig.engine.book.arrivals.clear()
        rig.engine.ticks.clear()
        tracer.spans.clear()
        return {"round": round_id, "no_stop": True, "events_beyond": beyond}
    arrival = next((t for t, cid in played["orders"] if cid == stop.client_id), None)
    if arrival is None:
        raise RuntimeError(f"stop {stop.client_id} not seen arriving at {loser}")
    if len(played["t_pub"]) <= crossing.lead:
        raise RuntimeError("the stop arrived before the crossing event was published")
    # The engine acts on its newest quote: when the price touched the stop and came back
    # before the round decided, no stop goes out for that touch. Reaction is measured from
    # the start of the excursion beyond the stop in which the stop was sent.
    t_pub = played["t_pub"]
    outside = [paths.beyond(crossing.stop, m) for m in crossing.window[: len(t_pub)]]
    starts = [
        j
        for j in range(crossing.lead, len(t_pub))
        if outside[j] and not outside[j - 1] and t_pub[j] < arrival
    ]
    if not starts:
        raise RuntimeError("the stop arrived before the crossing event was published")
    j = starts[-1]
    t_cross = t_pub[j]
    u_cross = played["u"][j]
    traced = phases(rig, tracer, loser, stop.client_id, t_cross, u_cross, arrival)
    if traced is not None:  # the simulator building the event's pushes: part of quote_in
        traced["event_built"] = played["built"][j] - t_cross
    result = {
        "round": round_id,
        "loser": loser,
        "reaction": arrival - t_cross,
        "fill": str(stop.avg_price),
        "overshoot_bp": crossing.stop.overshoot_bp(stop.avg_price) if stop.avg_price else None,
        "entries": {v: entries[v].client_id for v in VENUES},
        "phases": traced,
        "events_after_cross": len(t_pub) - j - 1,
        "reverted_touches": len(starts) - 1,
        "cross_index": j,
        "cycle_s": {"open": t1 - t0, "play": t2 - t1, "close": t3 - t2},
    }
    rig.engine.book.arrivals.clear()
    rig.engine.ticks.clear()
    tracer.spans.clear()
    return result


FLOOR_PATHS = {ASTER: "/fapi/v1/order", BACKPACK: "/api/v1/order"}


SKEW_FLOOR_IDS = 3_500_000_000  # the bare pair's Backpack client ids (uint32, none of ours)


async def skew_floor(rig: Rig, pairs: int, sent: Mapping[str, float]) -> dict[str, Any]:
    """The leg-skew floor of this setup: a bare aiohttp client (not ours: no signing, no
    engine, no store) posts two ready order requests at once, one to each simulator, on warm
    connections (unsigned: the venues refuse them after the arrival stamp). Their arrival
    stamps differ by aiohttp writing two requests (on Python 3.11 a body leaves from a task
    of its own) and by three processes sharing this machine's cores; their socket writes
    (`sent`, by the same WireLog as the daemon's) by aiohttp alone."""
    since = {v: (await rig.sims.log(v))[1] for v in VENUES}
    urls = {v: rig.sims.url(v) + FLOOR_PATHS[v] for v in VENUES}
    ids = {ASTER: lambda n: f"floor-{n}", BACKPACK: lambda n: str(SKEW_FLOOR_IDS + n)}
    async with aiohttp.ClientSession() as session:

        async def post(venue: str, n: int) -> None:
            if venue == ASTER:
                data: Any = {"data": {"newClientOrderId": ids[ASTER](n)}}
            else:
                data = {"json": {"clientId": SKEW_FLOOR_IDS + n}}
            async with session.post(urls[venue], **data) as r:
                await r.read()

        for n in range(pairs + 5):  # the first few open the connections
            await asyncio.gather(*(post(v, n) for v in VENUES))
            await asyncio.sleep(0.002)
    stamps: dict[str, dict[str, float]] = {v: {} for v in VENUES}
    for v in VENUES:
        for t, _method, _path, client_id, _w in (await rig.sims.log(v, since[v]))[0]:
            if client_id is not None:
                stamps[v].setdefault(str(client_id), t)

    def skews(times: Callable[[str, str], float | None]) -> list[float]:
        found = (
            (times(ASTER, ids[ASTER](n)), times(BACKPACK, ids[BACKPACK](n)))
            for n in range(5, pairs + 5)
        )
        return [abs(a - b) for a, b in found if a is not None and b is not None]

    arrived = summary(skews(lambda v, cid: stamps[v].get(cid)), 1000)
    return arrived | {"sent": summary(skews(lambda _v, cid: sent.get(cid)), 1000)}


FLOOR_SYMBOL = "FLOOR_USDC_PERP"  # listed by no venue: refused after its arrival stamp


class ReactionFloor:
    """The reaction's floor on this machine: a bare durable commit (sqlite3, WAL,
    synchronous=FULL, same disk; one row) then a bare signed order POST (ED25519 over the
    order's fields, as Backpack requires; aiohttp on a warm connection) to the Backpack
    simulator, from the start of the commit to the order's arrival stamp. No engine, no
    store layer, no client: what any write-ahead daemon here spends at least.

    One sample per cycle, taken while the cycle's round waits in MONITORING before its
    price path plays: the floor meets the disk, the disk probe and the machine as the
    crossings do, not at a quieter or busier moment after them. The order names a symbol
    no venue lists, so the simulator refuses it after stamping its arrival: it never
    touches the round's position."""

    WARM = 5  # the first samples open the connection and are left out
    # The WAL is checkpointed every this many commits, as the daemon's is every few seconds:
    # a commit writes over frames the file already has, neither lengthening it (which also
    # commits its size to the disk) nor restarting it (a header sync) each time.
    WAL_FRAMES = 100

    def __init__(self, rig: Rig, path: Path) -> None:
        self.rig = rig
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS intents (id INTEGER PRIMARY KEY, body TEXT)")
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        for _ in range(self.WAL_FRAMES):  # the WAL's file as long as it will get
            self.db.execute("INSERT INTO intents (body) VALUES ('')")
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.url = rig.sims.url(BACKPACK) + FLOOR_PATHS[BACKPACK]
        self.started: dict[str, float] = {}  # client id -> the commit's start
        self.commits: list[float] = []
        self._session: aiohttp.ClientSession | None = None
        self._since = 0

    async def open(self) -> None:
        self._since = (await self.rig.sims.log(BACKPACK))[1]
        self._session = aiohttp.ClientSession()
        for _ in range(self.WARM):
            await self.sample()

    async def sample(self) -> None:
        assert self._session is not None
        cid = 3_000_000_000 + len(self.commits)
        params = {
            "clientId": cid,
            "orderType": "Market",
            "quantity": "0.25",
            "reduceOnly": True,
            "side": "Ask",
            "symbol": FLOOR_SYMBOL,
        }
        keys = self.rig.keys.backpack
        t0 = time.monotonic()
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO intents (body) VALUES (?)", (json.dumps(params),))
        self.db.execute("COMMIT")
        self.commits.append(time.monotonic() - t0)
        signed = bp_signing.headers(
            keys.api_key.reveal(),
            keys.api_secret.reveal(),
            "orderExecute",
            params,
            int(time.time() * 1000),
        )
        self.started[str(cid)] = t0
        async with self._session.post(self.url, json=params, headers=signed) as r:
            await r.read()
        if len(self.commits) % self.WAL_FRAMES == 0:
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def ours(self, entry: list[Any]) -> bool:
        """Whether a simulator log entry is one of the floor's orders."""
        return entry[3] is not None and str(entry[3]) in self.started

    async def close(self) -> dict[str, Any]:
        if self._session is not None:
            await self._session.close()
        self.db.close()
        arrivals: dict[str, float] = {}
        for t, _method, _path, client_id, _w in (await self.rig.sims.log(BACKPACK, self._since))[0]:
            if client_id is not None:
                arrivals.setdefault(str(client_id), t)
        measured = list(self.started.items())[self.WARM :]
        floor = [arrivals[c] - t0 for c, t0 in measured if c in arrivals]
        commits = self.commits[self.WARM :]
        return summary(floor, 1000) | {"commit": summary(commits, 1000)}


async def finish(rig: Rig, cycle: Cycle, round_id: int) -> None:
    cycle.price = START
    await rig.sims.price(START)
    rig.store.add_command("close", round_id)
    await cycle.until(lambda: cycle.state(round_id) == "DONE", "the round to finish")


async def recover_cycle(rig: Rig, cycle: Cycle, last_round: int) -> int:
    """After a failed cycle: close whatever round is open, so the next cycle starts clean."""
    newest = last_round
    for r in rig.store.active_rounds():
        if r.id is None:
            continue
        newest = max(newest, r.id)
        try:
            await finish(rig, cycle, r.id)
        except TimeoutError as e:
            log.warning("round %s could not be closed: %s", r.id, e)
    for r in rig.store.recent_rounds(1):
        newest = max(newest, r.id or 0)
    return newest


def dt_of(crossing: paths.Crossing) -> float:
    return crossing.dt


def phases(
    rig: Rig,
    tracer: Tracer,
    loser: str,
    client_id: str | None,
    t_cross: float,
    u_cross: int,
    arrival: float,
) -> dict[str, float] | None:
    """Where the reaction time went, from the instrumented calls in the engine's process."""
    recv = next((t for t, v, u in rig.engine.book.arrivals if v == loser and u >= u_cross), None)
    spans = tracer.between(t_cross - 0.5, arrival)
    commit = next((s for s in spans if s[0] == "intent_commit"), None)
    left = tracer.sent.get(client_id) if client_id is not None else None
    if recv is None or commit is None or left is None:
        return None
    # the pass that launched the round's step (steps run as their own tasks after it)
    launched = [t for t in rig.engine.ticks if t.start <= commit[1]]
    tick = max(launched, key=lambda t: t.start, default=None)
    ready = next((s for s in spans if s[0] == f"prepare_{loser}" and s[1] >= commit[2]), None)
    sign = next((s for s in spans if s[0] == f"sign_{loser}" and ready and s[1] >= ready[1]), None)
    if tick is None or ready is None or sign is None:
        return None
    return {
        "quote_in": recv - t_cross,  # WebSocket push -> the engine's price book
        "wait_pass": max(0.0, tick.start - recv),  # the pass in progress finishing
        # the pass, the round's step task starting, its reads and decision
        "pass_to_decision": commit[1] - max(tick.start, recv),
        "intent_commit": commit[2] - commit[1],  # with the stop's reason, one transaction
        "to_prepare": ready[1] - commit[2],
        "prepare": ready[2] - ready[1],  # the venue's checks and signing: the order made ready
        "sign": sign[2] - sign[1],  # of which the signature
        "to_socket": left - ready[2],  # the fence, the pacer, aiohttp: the bytes leave
        "wire": arrival - left,  # loopback and the simulator reading the request
    }


def analyse(
    rig: Rig,
    results: list[dict[str, Any]],
    failures: list[str],
    logs: dict[str, list[list[Any]]],
    sent: dict[str, float],
    drawn: list[paths.Crossing],
    draw_seconds: float,
    sigma: float,
    dt: float,
    lead: int,
) -> dict[str, Any]:
    arrivals: dict[str, dict[str, float]] = {v: {} for v in VENUES}
    requests = {v: 0 for v in VENUES}
    for v in VENUES:
        for t, method, path, client_id, _weight in logs[v]:
            if client_id is not None:
                arrivals[v].setdefault(client_id, t)
            if not ((method == "GET" and path in ("/", "/ws")) or path.startswith("/ws/")):
                requests[v] += 1
    reactions = [r["reaction"] for r in results]
    by_venue = {v: [r["reaction"] for r in results if r["loser"] == v] for v in VENUES}
    skews, sent_skews = [], []
    entry_wire: dict[str, list[float]] = {v: [] for v in VENUES}
    for r in results:
        ids = r["entries"]
        a, b = (arrivals[v].get(ids[v]) for v in VENUES)
        if a is not None and b is not None:
            skews.append(abs(a - b))
        sa, sb = (sent.get(ids[v]) for v in VENUES)
        if sa is not None and sb is not None:
            sent_skews.append(abs(sa - sb))
        for v in VENUES:
            if ids[v] in sent and ids[v] in arrivals[v]:
                entry_wire[v].append(arrivals[v][ids[v]] - sent[ids[v]])
    # the same crossings through the 5-second poller, with the latency measured here
    event_bp, poll_bp, model_bp, poll_delay, missed = [], [], [], [], 0
    for r in results:
        crossing = drawn[r["index"]]
        if r["overshoot_bp"] is None:
            continue
        event_bp.append(r["overshoot_bp"])
        stop = crossing.stop
        at = r["reaction"] + (r["cross_index"] - crossing.lead) * crossing.dt
        model_bp.append(stop.overshoot_bp(paths.exit_price(stop, crossing.mid_at(at))))
        if crossing.poller_missed:
            missed += 1
            continue
        mid = crossing.poller_mid(r["reaction"])
        poll_bp.append(stop.overshoot_bp(paths.exit_price(stop, mid)))
        poll_delay.append(crossing.poller_delay)
    ev, po = summary(event_bp), summary(poll_bp)
    phase_keys = [
        "event_built",
        "quote_in",
        "wait_pass",
        "pass_to_decision",
        "intent_commit",
        "to_prepare",
        "prepare",
        "sign",
        "to_socket",
        "wire",
    ]
    breakdown = {}
    for v in VENUES:
        traced = [r["phases"] for r in results if r["phases"] and r["loser"] == v]
        breakdown[v] = {k: summary([p[k] for p in traced], 1000) for k in phase_keys}
    total_requests = sum(requests.values())
    slowest = sorted(results, key=lambda r: r["reaction"], reverse=True)[:5]
    worst = [
        {
            "round": r["round"],
            "loser": r["loser"],
            "reaction_ms": 1000 * r["reaction"],
            "phases_ms": {k: 1000 * v for k, v in (r["phases"] or {}).items()},
        }
        for r in slowest
    ]
    return {
        "crossings": len(results),
        "failures": failures[:10],
        "reaction_ms": summary(reactions, 1000),
        "reaction_ms_by_loser": {v: summary(by_venue[v], 1000) for v in VENUES},
        "reaction_breakdown_ms_by_loser": breakdown,
        "slowest_crossings": worst,
        "leg_skew_ms": summary(skews, 1000),
        "leg_skew_sent_ms": summary(sent_skews, 1000),
        # an entry's bytes handed to the socket -> its arrival stamp in the simulator
        "entry_write_to_arrival_ms": {v: summary(entry_wire[v], 1000) for v in VENUES},
        "reverted_touches_before_the_stop": sum(r["reverted_touches"] for r in results),
        "overshoot": {
            "model": {
                "volatility_annual": sigma,
                "event_interval_s": dt,
                "lead_events": lead,
                "tick": "0.01",
                "price": str(START),
                "spread_bps": 2,
                "stop_loss": str(STOP_LOSS),
                "poll_interval_s": 5.0,
            },
            "event_driven_bp": ev,
            "poller_bp": po,
            "poller_missed_stops": missed,
            "poller_detection_delay_s": summary(poll_delay),
            "ratio_mean": (po["mean"] / ev["mean"]) if ev.get("mean") else None,
            "ratio_p99": (po["p99"] / ev["p99"]) if ev.get("p99") else None,
            "event_driven_model_bp": summary(model_bp),
        },
        "requests_per_round": {v: requests[v] / max(1, len(results)) for v in VENUES},
        "requests_total": total_requests,
        "path_draw_seconds": draw_seconds,
        "cycle_ms": {
            k: summary([r["cycle_s"][k] for r in results], 1000) for k in ("open", "play", "close")
        },
        "notes": rig.notes,
    }
