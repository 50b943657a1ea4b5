"""A late-delivered order: the venue holds the request without answering and processes it
later. At the order desk, through the real venue clients over HTTP to the simulators: a "not
found" inside the signature window never counts as "never placed" and never leads to a second
order; a request held past its window is refused by the venue and ends "never placed". The
in-process simulator's late fault follows the same rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from test_fault_matrix import ACCOUNT, HttpRig

from hedged.adapters.base import Ambiguous, Outcome, ReadyOrder, VenueError
from hedged.legs import ASTER, BACKPACK, VENUES
from hedged.model import OrderRequest, OrderType, Side
from hedged.orders import Intent, OrderDesk
from hedged.sim.venue import SimVenue
from hedged.sim.world import default_world
from hedged.store import NEVER_PLACED, OrderRow, Store

QTY = Decimal("0.5")
SIDE = {ASTER: Side.SELL, BACKPACK: Side.BUY}
SIGNED = {ASTER: -QTY, BACKPACK: QTY}


class DeskRig:
    """The order desk on the real clients; no engine, so nothing else sends orders."""

    def __init__(self, http: HttpRig) -> None:
        self.http = http
        self.venues = http.clients()
        self.desk = OrderDesk(http.store, self.venues)

    async def place_late(self, venue: str, hold: float) -> OrderRow:
        """One market order on `venue` whose request the venue holds for `hold` seconds; the
        desk's verdict once every held request has been processed."""
        store, symbols = self.http.store, self.http.world.symbols
        round_row = store.create_round(symbols[ASTER], symbols[BACKPACK])
        assert round_row.id is not None
        self.http.arm(venue, "late", seconds=hold)
        intent = Intent(venue, symbols[venue], SIDE[venue], QTY, "ENTRY")
        [row] = await self.desk.submit(round_row.id, [intent])
        for _ in range(3):  # still unresolved: the engine asks again on its next steps
            if not row.unresolved:
                break
            row = await self.desk.resolve(row, patience=self.venues[venue].signature_window)
        await self.http.servers.faults[venue].held.settled()
        return row

    async def submissions(self, venue: str) -> dict[str, int]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.http.servers.url(venue) + "/_admin/submissions") as answer,
        ):
            counts: dict[str, int] = await answer.json()
            return counts

    def venue_orders(self, venue: str) -> int:
        saved = self.http.world.venues[venue].to_dict()
        return sum(o["account"] == ACCOUNT for o in saved["orders"])

    def position(self, venue: str) -> Decimal:
        exchange, symbol = self.http.world.venues[venue], self.http.world.symbols[venue]
        return exchange.position(ACCOUNT, symbol).qty


async def desk_rig(tmp_path: Path, window_ms: int) -> AsyncIterator[DeskRig]:
    http = HttpRig(tmp_path, window_ms=window_ms)
    await http.servers.start()
    rig = DeskRig(http)
    try:
        for venue in rig.venues.values():
            await venue.start()
        yield rig
    finally:
        for venue in rig.venues.values():
            await venue.close()
        await http.stop()


@pytest.fixture
async def wide(tmp_path: Path) -> AsyncIterator[DeskRig]:
    """5 s signature windows: a 0.3 s hold is well inside them."""
    async for rig in desk_rig(tmp_path, 5000):
        yield rig


@pytest.fixture
async def narrow(tmp_path: Path) -> AsyncIterator[DeskRig]:
    """0.5 s signature windows: a 0.7 s hold outlives them."""
    async for rig in desk_rig(tmp_path, 500):
        yield rig


@pytest.mark.parametrize("venue", VENUES)
async def test_not_found_inside_the_window_is_not_never_placed(wide: DeskRig, venue: str) -> None:
    row = await wide.place_late(venue, hold=0.3)
    events = [e.kind for e in wide.http.store.events_of(row.round_id)]
    assert row.status == "FILLED", f"{row.status}: {row.reject_message}"
    assert row.filled_qty == QTY
    assert "order_ambiguous" in events and "order_never_placed" not in events
    assert await wide.submissions(venue) == {row.client_id: 1}
    assert wide.venue_orders(venue) == 1  # no second order
    assert wide.position(venue) == SIGNED[venue]


@pytest.mark.parametrize("venue", VENUES)
async def test_held_past_the_window_is_refused_and_never_placed(
    narrow: DeskRig, venue: str
) -> None:
    row = await narrow.place_late(venue, hold=0.7)
    assert row.status == NEVER_PLACED
    assert narrow.venue_orders(venue) == 0
    assert narrow.position(venue) == 0


@pytest.mark.parametrize(("hold", "placed"), [(0.05, True), (0.3, False)])
async def test_in_process_late_fault_checks_the_window_when_processed(
    hold: float, placed: bool
) -> None:
    world = default_world(seed=1, start_price=Decimal(100))
    venue = SimVenue(world, ASTER, "test", signature_window=0.2)
    symbol = world.symbols[ASTER]
    venue.faults.arm("place", "late", seconds=hold)
    request = OrderRequest("late-1", symbol, Side.SELL, OrderType.MARKET, QTY)
    outcome = await venue.place(request)
    while_held = await venue.query(symbol, "late-1")
    await venue.held.settled()
    found = await venue.query(symbol, "late-1")
    assert isinstance(outcome, Ambiguous)
    assert while_held is None
    assert (found is not None) is placed
    assert venue.submissions == {"late-1": 1}


async def test_no_leg_is_sent_after_its_step_has_failed(tmp_path: Path) -> None:
    """Two entries sent together; one fails after its answer (its fills cannot be read yet)
    while the other is still on its way. The step's failure waits for that send to end: a
    send that outlived its step could leave after the daemon gave the book up (the fleet
    torture caught an entry sent that way)."""
    world = default_world(seed=1, start_price=Decimal(100))
    venues = {v: SimVenue(world, v, "test") for v in VENUES}
    store = Store(f"sqlite:///{tmp_path / 'legs.db'}")
    try:
        desk = OrderDesk(store, venues)
        symbols = world.symbols
        round_row = store.create_round(symbols[ASTER], symbols[BACKPACK])
        assert round_row.id is not None
        venues[ASTER].faults.arm("fills", "error_5xx")
        venues[BACKPACK].faults.arm("place", "latency", seconds=0.3)
        entries = [Intent(v, symbols[v], SIDE[v], QTY, "ENTRY") for v in VENUES]
        with pytest.raises(VenueError):
            await desk.submit(round_row.id, entries)
        backpack = [o for o in store.orders_of(round_row.id) if o.venue == BACKPACK]
        assert [o.status for o in backpack] == ["FILLED"]  # answered before the step ended
    finally:
        store.close()


class Traced(SimVenue):
    """A simulated venue that notes when an order is made ready and when it is sent."""

    trace: list[str]

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        self.trace.append(f"ready {self.name}")
        ready = super().prepare(order)

        async def send() -> Outcome:
            self.trace.append(f"sent {self.name}")
            return await ready()

        return send


async def test_both_entries_are_made_ready_before_either_is_sent(tmp_path: Path) -> None:
    """The second leg's checks and signature do not stand between the two writes."""
    world = default_world(seed=1, start_price=Decimal(100))
    trace: list[str] = []
    venues = {v: Traced(world, v, "test") for v in VENUES}
    for venue in venues.values():
        venue.trace = trace
    store = Store(f"sqlite:///{tmp_path / 'ready.db'}")
    try:
        symbols = world.symbols
        round_row = store.create_round(symbols[ASTER], symbols[BACKPACK])
        assert round_row.id is not None
        entries = [Intent(v, symbols[v], SIDE[v], QTY, "ENTRY") for v in VENUES]
        placed = await OrderDesk(store, venues).submit(round_row.id, entries)
        assert [o.status for o in placed] == ["FILLED", "FILLED"]
        assert trace == ["ready aster", "ready backpack", "sent aster", "sent backpack"]
    finally:
        store.close()
