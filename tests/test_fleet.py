"""A fleet on one PostgreSQL store: daemons (`Engine.run`, the real loop, each with venue
clients and keys of its own on one account) share four pairs' books through the leases.
A daemon alone takes every book; a second one joining gets its share, given up by the first
at a safe point; a command on a round goes to the daemon holding its book; a daemon that
dies (its leases left to lapse, as after kill -9) has its books taken by the survivor. The
venues' records then show every request from the daemon that held its book at that moment,
and the kill -9 invariants hold. The same with real processes, kill -9 and SIGSTOP:
tests/crash/test_fleet_torture.py."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from holders import check_holders, holdings
from invariants import check_invariants, wire_records
from roundkit import on_simulators

from hedged import orders
from hedged.adapters.backpack.signing import new_keypair
from hedged.config import Config, load
from hedged.engine import Engine
from hedged.leadership import book_of
from hedged.legs import ASTER, BACKPACK
from hedged.secrets import AsterCredentials, BackpackCredentials, Credentials, Secret
from hedged.sim.accounts import Accounts, AsterV1Key, BackpackKey
from hedged.sim.server import SimServers, WorldSpec, build_world
from hedged.store import Store, as_utc, utcnow
from hedged.venues import clients

pytestmark = pytest.mark.postgres

D = Decimal
ACCOUNT = "fleet"
PAIRS = {
    "SOLUSDT": "SOL_USDC_PERP",
    "ETHUSDT": "ETH_USDC_PERP",
    "BTCUSDT": "BTC_USDC_PERP",
    "XRPUSDT": "XRP_USDC_PERP",
}
SYMBOLS = {ASTER: tuple(PAIRS), BACKPACK: tuple(PAIRS.values())}
BOOKS = [book_of(a, b) for a, b in PAIRS.items()]
BOOK_OF = {(v, s): book_of(a, b) for a, b in PAIRS.items() for v, s in ((ASTER, a), (BACKPACK, b))}
WAIT = 40.0  # any one condition slower than this fails the test

CONFIG = """
[strategy]
position_size_usdt = 25
mode = "continuous"
max_round_seconds = 5
cooldown_seconds = 0
max_price_age_seconds = 60
poll_interval_seconds = 0.2
on_shutdown = "flatten"
""" + "".join(
    f'[[pair]]\naster_symbol = "{a}"\nbackpack_symbol = "{b}"\n' for a, b in PAIRS.items()
)


@dataclass
class Member:
    """One daemon of the fleet: its keys, its engine and the task running its loop."""

    name: str
    credentials: Credentials
    keys: tuple[str, str]  # its Aster and Backpack API keys, as the venues record them
    engine: Engine | None = None
    store: Store | None = None
    task: asyncio.Task[int] | None = None

    @property
    def holder(self) -> str:
        assert self.engine is not None
        return self.engine.lease.claim.holder

    def books(self) -> tuple[str, ...]:
        return () if self.engine is None else self.engine.lease.held


class FleetRig:
    def __init__(self, store_url: str, tmp_path: Path, members: int) -> None:
        self.url = store_url
        v1 = [(secrets.token_hex(16), secrets.token_hex(32)) for _ in range(members)]
        bp = [new_keypair() for _ in range(members)]  # (secret, public)
        accounts = Accounts(
            aster_v1={k: AsterV1Key(k, s, ACCOUNT) for k, s in v1},
            backpack={public: BackpackKey(public, ACCOUNT) for _, public in bp},
            balances={ACCOUNT: D(100_000)},
        )
        spec = WorldSpec(symbols=SYMBOLS, start_price=D(100), volatility=D(30))
        self.world = build_world(spec, accounts, None)
        self.servers = SimServers(self.world, accounts, tick_seconds=0.1)  # prices stream
        (tmp_path / "hedged.toml").write_text(CONFIG + "[daemon]\nfleet = true\n")
        self.config: Config = load(
            tmp_path / "hedged.toml",
            overrides={"store.url": store_url, "daemon.lease_seconds": "2"},
        )
        self.members = [
            Member(
                f"daemon-{i}",
                Credentials(
                    AsterCredentials(None, None, None, Secret(v1[i][0]), Secret(v1[i][1])),
                    BackpackCredentials(Secret(bp[i][1]), Secret(bp[i][0])),
                ),
                (v1[i][0], bp[i][1]),
            )
            for i in range(members)
        ]
        self.store = Store(store_url)  # the test's own reader

    async def start(self, m: Member) -> None:
        cfg = on_simulators(self.config, self.servers)
        m.store = Store(self.url)
        m.engine = Engine(cfg, m.store, clients(cfg, m.credentials))
        m.task = asyncio.create_task(m.engine.run())

    async def die(self, m: Member) -> None:
        """As after kill -9: the loop ends without releasing its leases or checking out."""
        assert m.engine is not None and m.task is not None
        lease = m.engine.lease

        async def nothing() -> None:
            return None

        lease.release = nothing  # type: ignore[method-assign]
        lease.check_out = nothing  # type: ignore[method-assign]
        m.task.cancel()
        await asyncio.gather(m.task, return_exceptions=True)

    async def stop(self, m: Member) -> int:
        """SIGTERM: this fleet flattens its rounds on the way out."""
        assert m.engine is not None and m.task is not None
        m.engine.stopping.set()
        return await asyncio.wait_for(m.task, WAIT)

    async def close(self) -> None:
        for m in self.members:
            if m.task is not None and not m.task.done():
                m.task.cancel()
                await asyncio.gather(m.task, return_exceptions=True)
            if m.store is not None:
                m.store.close()
        await self.servers.stop()
        self.store.close()

    def holders(self) -> dict[str, str | None]:
        """Each book's holder as the store has it now (None: free or lapsed)."""
        rows, now = self.store.leases()
        return {r.book: r.holder if r.expires_ms > now else None for r in rows}

    def split(self) -> dict[str, int]:
        """How many books each member holds, by the store."""
        held = self.holders()
        return {m.name: sum(h == m.holder for h in held.values()) for m in self.members if m.engine}

    def done(self) -> int:
        return sum(r.state == "DONE" for r in self.store.recent_rounds(1000))

    def daemon_of(self, holder: str) -> str | None:
        return next((m.name for m in self.members if m.engine and m.holder == holder), None)


async def until(what: str, condition: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.1)


async def ctl(rig: FleetRig, *args: str) -> subprocess.CompletedProcess[str]:
    """hedgectl in a thread: the daemons' loops go on meanwhile (a blocked loop would let
    their leases lapse)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hedged.ctl", *args, "--db", rig.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"COLUMNS": "200"},
    )


@pytest.fixture(autouse=True)
def quick_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 0.2)


@pytest.fixture
async def rig(store_url: str, tmp_path: Path) -> AsyncIterator[FleetRig]:
    r = FleetRig(store_url, tmp_path, members=2)
    await r.servers.start()
    try:
        yield r
    finally:
        await r.close()


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_a_fleet_of_two_shares_the_books_and_takes_a_dead_daemons(rig: FleetRig) -> None:
    a, b = rig.members
    await rig.start(a)
    await until("the first daemon holds every book", lambda: len(a.books()) == 4)
    await until("rounds trade on every pair", lambda: len(rig.store.active_rounds()) >= 2)

    await rig.start(b)  # joins: the first gives books up, one at a time, at safe points
    await until("two books each", lambda: rig.split() == {a.name: 2, b.name: 2})
    assert set(a.books()) | set(b.books()) == set(BOOKS)
    given_up = [h for hs in holdings(rig.store).values() for _, h in hs if h is None]
    assert len(given_up) == 2

    fleet = json.loads((await ctl(rig, "fleet", "--json")).stdout)
    by_pid_books = sorted(len(d["books"]) for d in fleet["daemons"])
    assert by_pid_books == [2, 2] and all(d["role"] == "leader" for d in fleet["daemons"])
    assert set(fleet["books"]) == set(BOOKS) and all(fleet["books"].values())
    text = (await ctl(rig, "fleet")).stdout
    assert "daemons checked in" in text and BOOKS[0] in text
    status = json.loads((await ctl(rig, "status", "--json")).stdout)["daemon"]
    assert {x["book"] for x in status["leaders"] if x["leading"]} == set(BOOKS)

    # A command on a round goes to the daemon holding its book (the other leaves it). A round
    # may begin its own exit between the choice and the command (prices move fast here):
    # that close is refused as such, and another round is tried.
    for _attempt in range(5):
        await until("a round on the second daemon's books", lambda: _round_of(rig, b) is not None)
        target = _round_of(rig, b)
        closed = await ctl(rig, "close", str(target), "--timeout", "20")
        if "CLOSING" not in closed.stderr:  # the daemon's refusal, or hedgectl's own
            break
    assert closed.returncode == 0, closed.stdout + closed.stderr

    await until("more rounds done", lambda: rig.done() >= 6)
    await rig.die(b)
    await until("the survivor holds every book", lambda: len(a.books()) == 4)
    assert rig.holders() == dict.fromkeys(BOOKS, a.holder)
    done = rig.done()
    await until(f"rounds go on ({_why(a)})", lambda: rig.done() >= done + 4)

    # SIGTERM, and a renewal missed on the way out (a stalled disk, say): with no other
    # daemon to take them, it takes its books back and still flattens every round.
    assert a.engine is not None and a.task is not None
    a.engine.stopping.set()
    a.engine.lease.lose("a renewal missed while flattening")
    assert await asyncio.wait_for(a.task, WAIT) == 0
    assert rig.store.active_rounds() == []
    records = await wire_records(rig.servers, ACCOUNT, SYMBOLS)
    assert check_invariants(rig.store, records).violations == []
    arrivals = {v: await _admin(rig.servers.url(v) + "/_admin/arrivals") for v in SYMBOLS}
    keys = {k: m.name for m in rig.members for k in m.keys}
    holders = check_holders(rig.store, arrivals, BOOK_OF, rig.daemon_of, keys)
    assert holders.foreign == []
    assert holders.checked > 40 and holders.books_taken >= 4 + 2 + 2


def _why(m: Member) -> str:
    assert m.engine is not None
    return f"not opening: {m.engine._why_not_open()}; live: {sorted(m.engine.schedule.live)}"


async def _admin(url: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        entries: list[dict[str, object]] = await r.json()
        return entries


def _round_of(rig: FleetRig, m: Member) -> int | None:
    """A live round on one of `m`'s books."""
    books = set(m.books())
    for r in rig.store.active_rounds():
        young = r.opened_at is not None and utcnow() - as_utc(r.opened_at) < timedelta(seconds=2)
        if (
            book_of(r.aster_symbol, r.backpack_symbol) in books
            and r.state == "MONITORING"
            and young
        ):
            return r.id
    return None
