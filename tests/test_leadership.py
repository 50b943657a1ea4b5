"""Leadership: the lease in the store (both backends), the fence on every write, and the last
gap — a daemon frozen between its lease check and its socket write."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from roundkit import Rig, make_config
from test_fault_matrix import HttpRig

from hedged.adapters.base import EXPIRED, NOT_SENT, Accepted, Rejected
from hedged.alerts import Alerts, Webhook
from hedged.leadership import Lease, Timing
from hedged.legs import ASTER, BACKPACK
from hedged.metrics import Metrics
from hedged.model import OrderRequest, OrderType, Side
from hedged.orders import CLOCK_MARGIN, SEND_SLACK, Intent, OrderDesk, Unresolved
from hedged.store import NEVER_PLACED, Claim, Deposed, Fence, OrderRow, Store

BOOK = "aster:SOLUSDT+backpack:SOL_USDC_PERP"


def claim(name: str) -> Claim:
    return Claim(BOOK, f"{name}:1:1", name, 1, datetime.now(UTC))


def fence(c: Claim, epoch: int, valid: Callable[[], bool] = lambda: True) -> Fence:
    return Fence(BOOK, c.holder, epoch, valid)


def test_one_holder_at_a_time_epochs_grow_and_a_deposed_write_rolls_back(
    open_store: Callable[[], Store],
) -> None:
    a_store, b_store = open_store(), open_store()  # as two daemons would
    a, b = claim("host-a"), claim("host-b")

    taken, before = a_store.take_lease(a, ttl_ms=60_000)
    assert taken is not None and taken.epoch == 1 and before is not None and before.holder is None
    assert b_store.take_lease(b, ttl_ms=60_000)[0] is None  # held, not lapsed
    assert a_store.renew_lease(BOOK, a.holder, 1, 60_000)

    a_store.fence = fence(a, 1)
    a_store.create_round("SOLUSDT", "SOL_USDC_PERP")  # the holder writes

    # A lapses (renewed for 1 ms), B takes over with the next epoch.
    assert a_store.renew_lease(BOOK, a.holder, 1, 1)
    time.sleep(0.01)
    taken, before = b_store.take_lease(b, ttl_ms=60_000)
    assert taken is not None and taken.epoch == 2
    assert before is not None and before.holder == a.holder and before.expires_ms > 0

    # A's writes roll back, whatever they were; B's go through.
    with pytest.raises(Deposed):
        a_store.create_round("SOLUSDT", "SOL_USDC_PERP")
    with pytest.raises(Deposed):
        a_store.set_meta("paused", "1")
    stop = OrderRow(
        round_id=1, venue="aster", symbol="SOLUSDT", purpose="STOP", side="BUY", type="MARKET",
        qty=Decimal("0.1"),
    )  # fmt: skip
    with pytest.raises(Deposed):  # no intent, so no order, from a daemon that lost the lease
        a_store.add_intents([stop], {"aster": lambda ns, seq: f"x{seq}"}, {"reason": "stop"})
    assert b_store.live_orders() == [] and b_store.get_round(1).reason is None  # type: ignore[union-attr]
    assert not a_store.renew_lease(BOOK, a.holder, 1, 60_000)
    assert b_store.count_rounds() == 1 and b_store.get_meta("paused") is None
    b_store.fence = fence(b, 2)
    b_store.create_round("SOLUSDT", "SOL_USDC_PERP")
    assert b_store.count_rounds() == 2

    # A clean stop releases: the other takes it at once, and it is not a takeover.
    b_store.release_lease(BOOK, b.holder, 2)
    taken, before = a_store.take_lease(a, ttl_ms=60_000)
    assert taken is not None and taken.epoch == 3 and before is not None
    assert before.expires_ms == 0
    held, now = b_store.lease(BOOK)
    assert held is not None and held.holder == a.holder and held.expires_ms > now


def test_check_ins_show_leaders_and_standbys(open_store: Callable[[], Store]) -> None:
    store = open_store()
    store.check_in(claim("host-a"), "leader")
    store.check_in(claim("host-b"), "standby")
    store.check_in(claim("host-b"), "leader")  # the same daemon, later
    rows, now = store.daemons()
    assert {(r.host, r.role) for r in rows} == {("host-a", "leader"), ("host-b", "leader")}
    assert all(abs(now - r.seen_ms) < 60_000 for r in rows)
    store.check_out(claim("host-a").holder)
    assert [r.host for r in store.daemons()[0]] == ["host-b"]


def hedgectl(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hedged.ctl", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_hedgectl_status_names_the_leader_and_the_standbys(
    store_url: str, open_store: Callable[[], Store]
) -> None:
    store = open_store()
    quiet = hedgectl("status", "--db", store_url)
    assert quiet.returncode == 0 and "no daemon leading" in quiet.stdout
    a, b = claim("host-a"), claim("host-b")
    store.take_lease(a, ttl_ms=60_000)
    store.check_in(a, "leader")
    store.check_in(b, "standby")

    shown = hedgectl("status", "--json", "--db", store_url)
    assert shown.returncode == 0, shown.stderr
    daemon = json.loads(shown.stdout)["daemon"]
    leader = daemon["leader"]
    assert (leader["leading"], leader["host"], leader["pid"], leader["epoch"]) == (
        True,
        "host-a",
        1,
        1,
    )
    assert [s["host"] for s in daemon["standbys"]] == ["host-b"]
    text = hedgectl("status", "--db", store_url).stdout
    assert "leader: host-a pid 1 since" in text and "(epoch 1)" in text
    assert "standby: host-b pid 1" in text

    store.release_lease(BOOK, a.holder, 1)
    gone = json.loads(hedgectl("status", "--json", "--db", store_url).stdout)["daemon"]
    assert gone["leader"]["leading"] is False


def test_a_holder_stops_writing_before_the_store_could_hand_the_lease_on(
    tmp_path: Path,
) -> None:
    """Self-demotion: on its own monotonic clock, the holder's lease runs out `margin` before
    the store's expiry, whether or not the database still names it."""
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    now = [100.0]
    lease = Lease(store, claim("host-a"), Timing(ttl=3.0, margin=0.75), clock=lambda: now[0])
    try:
        taken = asyncio.run(lease.try_take())
        assert taken and lease.valid()
        store.fence = lease.fence()
        store.set_meta("k", "1")
        now[0] += 2.26  # past ttl - margin, the database still says ours
        assert not lease.valid()
        with pytest.raises(Deposed, match="may have lapsed"):
            store.set_meta("k", "2")
        assert store.get_meta("k") == "1"
        assert asyncio.run(lease.renew())  # renewed: valid again for ttl - margin
        store.set_meta("k", "3")
    finally:
        store.close()


class WireBook:
    """One venue's client of a started wire rig (configured window 5 s, fenced to the
    lease's margin), its symbol, fresh client ids, and what reached its simulator."""

    def __init__(self, rig: HttpRig, venue: str) -> None:
        assert rig.engine is not None
        self.rig, self.venue = rig, venue
        self.client = rig.engine.venues[venue]
        self.symbol = rig.engine.symbols[venue]
        self.margin = rig.engine.lease.timing.margin
        self._ids = (rig.engine.desk._client_ids[venue](rig.store.namespace, n) for n in count(901))

    def order(self) -> OrderRequest:
        return OrderRequest(
            next(self._ids), self.symbol, Side.BUY, OrderType.MARKET, Decimal("0.1")
        )

    async def arrived(self) -> dict[str, int]:
        """Client id -> HTTP status of every order request that reached the simulator."""
        url = self.rig.servers.url(self.venue) + "/_admin/arrivals"
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            return {a["client_id"]: a["status"] for a in await r.json()}


def on_wire(tmp_path: Path, venue: str, attempts: Callable[[WireBook], Awaitable[None]]) -> None:
    rig = HttpRig(tmp_path, window_ms=5000)

    async def scenario() -> None:
        await rig.start()
        try:
            await attempts(WireBook(rig, venue))
        finally:
            await rig.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("venue", [ASTER, BACKPACK])
def test_an_order_frozen_after_the_lease_check_is_refused_by_the_venue(
    tmp_path: Path, venue: str
) -> None:
    """Sign first, check the lease last, then write: a daemon frozen in between sends, when
    it wakes, a request stamped before the freeze. Its signature window is the lease's margin
    (0.75 s), not the configured 5 s, so a freeze long enough for the store to hand the book
    on (the margin) is refused by the venue. A deposed daemon's check says no, and nothing
    leaves at all."""

    async def attempts(book: WireBook) -> None:
        client, margin = book.client, book.margin
        assert client.signature_window == margin < 5

        def frozen() -> bool:
            time.sleep(margin + 0.25)  # SIGSTOP: the whole process, loop included, stands still
            return True

        late = book.order()
        client.fence(frozen, margin)
        outcome = await client.place(late)
        assert isinstance(outcome, Rejected) and outcome.code == EXPIRED
        assert await client.query(book.symbol, late.client_id) is None  # never placed
        assert (await client.position(book.symbol)).qty == 0

        deposed = book.order()
        client.fence(lambda: False, margin)
        outcome = await client.place(deposed)
        assert isinstance(outcome, Rejected) and outcome.code == NOT_SENT
        arrived = await book.arrived()
        assert arrived[late.client_id] >= 400  # the late one left, and was refused
        assert deposed.client_id not in arrived

    on_wire(tmp_path, venue, attempts)


@pytest.mark.parametrize("venue", [ASTER, BACKPACK])
def test_an_order_made_ready_is_signed_then_and_leaves_only_when_sent(
    tmp_path: Path, venue: str
) -> None:
    """`prepare` checks and signs, calling its result writes: an entry's two legs are both
    made ready before either leaves, so the second follows the first at once. The signature,
    and with it the venue's window (the lease's margin), dates from `prepare`."""

    async def attempts(book: WireBook) -> None:
        first, later = book.order(), book.order()
        ready = [book.client.prepare(first), book.client.prepare(later)]
        assert not {first.client_id, later.client_id} & set(await book.arrived())  # not sent
        assert isinstance(await ready[0](), Accepted)
        await asyncio.sleep(book.margin + 0.25)
        outcome = await ready[1]()
        assert isinstance(outcome, Rejected) and outcome.code == EXPIRED
        assert (await book.arrived())[later.client_id] >= 400  # left when called, stamped before

    on_wire(tmp_path, venue, attempts)


def test_leadership_shows_in_metrics() -> None:
    metrics = Metrics()
    metrics.leadership(BOOK, True, True)  # took it over from a lapsed leader
    metrics.leadership(BOOK, False, False)  # then lost it
    metrics.leadership(BOOK, True, False)  # and took it back (released, not a takeover)
    page = metrics.exposition()[0].decode()
    assert f'hedged_leader{{book="{BOOK}"}} 1.0' in page
    assert f'hedged_takeovers_total{{book="{BOOK}"}} 1.0' in page


async def test_a_takeover_and_a_deposition_alert() -> None:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    webhook = Webhook(f"http://127.0.0.1:{port}/")
    alerts = Alerts(webhook, make_config())
    try:
        webhook.start()
        alerts.leadership(BOOK, True, True)
        alerts.leadership(BOOK, True, False)  # leading after a release: nothing to say
        alerts.leadership(BOOK, False, False)
        async with asyncio.timeout(10):
            while len(received) < 2:
                await asyncio.sleep(0.02)
    finally:
        await webhook.close()
        await runner.cleanup()
    assert [a["event"] for a in received] == ["takeover", "deposed"]
    assert all(BOOK in str(a["reason"]) for a in received)


def test_a_deposed_daemon_finding_its_round_moved_on_is_told_it_was_deposed(
    open_store: Callable[[], Store],
) -> None:
    """Frozen before a transition and woken after the new leader moved the round: the old
    leader learns it lost the lease (Deposed, it stands by), not a state clash (a bug)."""
    a_store, b_store = open_store(), open_store()
    a, b = claim("host-a"), claim("host-b")
    a_store.take_lease(a, ttl_ms=1)
    a_store.fence = fence(a, 1)
    rid = a_store.create_round("SOLUSDT", "SOL_USDC_PERP").id
    assert rid is not None
    time.sleep(0.01)
    b_store.take_lease(b, ttl_ms=60_000)
    b_store.fence = fence(b, 2)
    b_store.transition(rid, "OPENING", "CLOSING", "entry_failed")
    with pytest.raises(Deposed):
        a_store.transition(rid, "OPENING", "MONITORING", "entries_filled")
    with pytest.raises(RuntimeError, match="is CLOSING, not OPENING"):  # ours: a real clash
        b_store.transition(rid, "OPENING", "MONITORING", "entries_filled")


@pytest.mark.parametrize("venue", [ASTER, BACKPACK])
def test_a_request_later_than_its_intent_allows_is_held_back(tmp_path: Path, venue: str) -> None:
    """A request leaves only within SEND_SLACK of its intent: an intent whose commit waited
    longer (here behind another connection's write lock) is not sent at all, so a successor
    can bound when any copy of it stops being valid from the intent's own time."""
    rig = HttpRig(tmp_path)

    async def scenario() -> None:
        await rig.start()
        try:
            await late_commit()
        finally:
            await rig.stop()

    async def late_commit() -> None:
        assert rig.engine is not None
        engine = rig.engine
        r = rig.store.create_round(engine.symbols[ASTER], engine.symbols[BACKPACK])
        assert r.id is not None
        blocker = sqlite3.connect(tmp_path / "hedged.db", check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")  # the store's commit waits for this lock
        threading.Timer(SEND_SLACK + 0.5, blocker.commit).start()
        intent = Intent(venue, engine.symbols[venue], Side.BUY, Decimal("0.1"), "ENTRY")
        (row,) = await engine.desk.submit(r.id, [intent])
        blocker.close()
        assert (row.status, row.reject_code) == ("REJECTED", NOT_SENT)
        url = rig.servers.url(venue) + "/_admin/arrivals"
        async with aiohttp.ClientSession() as http, http.get(url) as answer:
            arrived = {a["client_id"] for a in await answer.json()}
        assert row.client_id not in arrived

    asyncio.run(scenario())


def test_a_successor_bounds_an_unsure_order_by_its_intents_time(tmp_path: Path) -> None:
    """Found unresolved by a new process: an intent older than SEND_SLACK plus the window
    is settled "never placed" at the first look, without waiting a window from now; a fresh
    one is still waited out."""
    rig = HttpRig(tmp_path)

    async def scenario() -> None:
        await rig.start()
        try:
            await successor()
        finally:
            await rig.stop()

    async def successor() -> None:
        assert rig.engine is not None
        engine = rig.engine
        r = rig.store.create_round(engine.symbols[ASTER], engine.symbols[BACKPACK])
        assert r.id is not None
        window = engine.venues[ASTER].signature_window
        made = {
            "old": datetime.now(UTC) - timedelta(seconds=SEND_SLACK + window + CLOCK_MARGIN + 1),
            "new": datetime.now(UTC),
        }
        rows = {
            age: rig.store.add_intents(
                [
                    OrderRow(
                        round_id=r.id,
                        venue=ASTER,
                        symbol=engine.symbols[ASTER],
                        purpose="ENTRY",
                        side="SELL",
                        type="MARKET",
                        qty=Decimal("0.1"),
                        created_at=at,
                    )
                ],
                engine.desk._client_ids,
            )[0]
            for age, at in made.items()
        }
        fresh = OrderDesk(rig.store, engine.venues)  # as after a takeover: no send times known
        assert fresh.never_placed_after(rows["old"]) <= time.monotonic()
        settled = await fresh.resolve(rows["old"])
        assert settled.status == NEVER_PLACED
        with pytest.raises(Unresolved):
            await fresh.resolve(rows["new"])

    asyncio.run(scenario())


def test_the_send_by_bound_ends_with_its_order(tmp_path: Path) -> None:
    """A single intent goes out from the step's own task; the bound is that order's alone:
    a cancel the same task sends later, past the bound, still leaves."""
    rig = HttpRig(tmp_path)

    async def scenario() -> None:
        await rig.start()
        try:
            await later_cancel()
        finally:
            await rig.stop()

    async def later_cancel() -> None:
        assert rig.engine is not None
        engine = rig.engine
        r = rig.store.create_round(engine.symbols[ASTER], engine.symbols[BACKPACK])
        assert r.id is not None
        symbol = engine.symbols[BACKPACK]
        far = Intent(BACKPACK, symbol, Side.BUY, Decimal("0.1"), "TEST", OrderType.LIMIT, D50)
        (row,) = await engine.desk.submit(r.id, [far])
        assert row.status == "NEW"
        await asyncio.sleep(SEND_SLACK + 0.2)
        cancelled = await engine.desk.cancel(row)
        assert cancelled.status == "CANCELED"

    asyncio.run(scenario())


D50 = Decimal(50)  # far below the simulators' 100: a limit that rests


ETH_BOOK = "aster:ETHUSDT+backpack:ETH_USDC_PERP"


def test_a_daemon_of_several_pairs_holds_every_book_or_none_and_writes_on_all(
    tmp_path: Path,
) -> None:
    """A daemon of two pairs holds both books' leases together: it takes neither while the
    other book is held by another daemon, and once it leads, a write is refused as soon as
    either book's lease is no longer its epoch."""
    store = Store(f"sqlite:///{tmp_path / 'h.db'}")
    now = [100.0]
    other = Claim(ETH_BOOK, "host-b:1:1", "host-b", 1, datetime.now(UTC))
    try:
        taken_b, _ = store.take_lease(other, 60_000)  # host-b trades ETH alone
        assert taken_b is not None
        both = Lease(store, claim("host-a"), Timing(), clock=lambda: now[0], books=[ETH_BOOK])
        assert both.books == (BOOK, ETH_BOOK)
        assert asyncio.run(both.try_take()) == []  # ETH is held: SOL is not taken either
        rows, _ = store.leases()
        assert {r.book: r.holder for r in rows}.get(BOOK) is None  # nothing written
        store.release_lease(ETH_BOOK, other.holder, taken_b.epoch)
        assert asyncio.run(both.try_take()) != []
        held = {r.book: r.holder for r in store.leases()[0]}
        assert held == {BOOK: "host-a:1:1", ETH_BOOK: "host-a:1:1"}
        store.fence = both.fence()
        store.set_meta("k", "1")
        assert asyncio.run(both.renew())
        # The ETH book's lease moves on behind its back (as a takeover would): refused.
        store.release_lease(ETH_BOOK, "host-a:1:1", 2)
        store.fence = None
        taken_b, _ = store.take_lease(other, 60_000)
        assert taken_b is not None
        store.fence = both.fence()
        with pytest.raises(Deposed, match=r"ETHUSDT.* is at epoch 3, not our epoch 2"):
            store.set_meta("k", "2")
        assert store.get_meta("k") == "1"
        assert not asyncio.run(both.renew()) and not both.valid()  # and it steps down
    finally:
        store.close()


async def test_no_order_or_cancel_leaves_for_a_book_given_up(tmp_path: Path) -> None:
    """A fleet's daemon gives a book up while it holds others, so its lease stays valid: the
    fence also asks whether the book of what is being sent is still held. A backstop's cancel
    on a book given up meanwhile is not sent, and the backstop rests on."""
    rig = Rig(tmp_path, backstop_stop=Decimal("0.05"))
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING", 1)
        assert rig.engine is not None
        backstop = next(o for o in rig.store.live_orders() if o.purpose == "BACKSTOP")
        rig.store.scope = lambda venue, symbol: False  # the book given up, others still held
        row = await rig.engine.desk.cancel(backstop)
        assert not row.terminal
        resting = await rig.venues[backstop.venue].open_orders(backstop.symbol)
        assert backstop.client_id in {o.client_id for o in resting}
    finally:
        rig.store.scope = None
        await rig.stop()
