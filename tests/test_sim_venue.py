import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hedged.adapters.base import Accepted, Ambiguous, Rejected, Venue, VenueError
from hedged.model import OrderRequest, OrderStatus, OrderType, Quote, Side
from hedged.sim.venue import SimVenue
from hedged.sim.world import ASTER_SYMBOL, BACKPACK_SYMBOL, World, default_world

D = Decimal
ASTER_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
READS = [
    "rules",
    "quote",
    "query",
    "open_orders",
    "position",
    "fills",
    "funding_info",
    "funding_payments",
]


@pytest.fixture
def world() -> World:
    world = default_world(spread_bps=D(0))
    world.set_price(D(150))  # aster 150.00/150.01
    return world


@pytest.fixture
def aster(world: World) -> SimVenue:
    return SimVenue(world, "aster", "alice")


def buy(client_id: str, qty: str = "1") -> OrderRequest:
    return OrderRequest(client_id, ASTER_SYMBOL, Side.BUY, OrderType.MARKET, D(qty))


def take_profit(client_id: str, price: str = "160.00") -> OrderRequest:
    return OrderRequest(
        client_id, ASTER_SYMBOL, Side.SELL, OrderType.LIMIT, D(1), D(price), reduce_only=True
    )


async def settle() -> None:
    """Let every ready task run."""
    for _ in range(10):
        await asyncio.sleep(0)


async def call_read(venue: SimVenue, method: str) -> object:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "rules": lambda: venue.rules(ASTER_SYMBOL),
        "quote": lambda: venue.quote(ASTER_SYMBOL),
        "query": lambda: venue.query(ASTER_SYMBOL, "x"),
        "open_orders": lambda: venue.open_orders(ASTER_SYMBOL),
        "position": lambda: venue.position(ASTER_SYMBOL),
        "fills": lambda: venue.fills(ASTER_SYMBOL, "x"),
        "funding_info": lambda: venue.funding_info(ASTER_SYMBOL),
        "funding_payments": lambda: venue.funding_payments(ASTER_SYMBOL, EPOCH),
    }
    return await calls[method]()


def test_it_is_a_venue(world: World) -> None:
    venue: Venue = SimVenue(world, "backpack", "bob", signature_window=0.2)
    assert (venue.name, venue.signature_window) == ("backpack", 0.2)
    assert SimVenue(world, "aster", "alice").signature_window == 5.0


def test_aster_client_ids(aster: SimVenue) -> None:
    client_id = aster.client_id(0xABCD, 7)
    assert client_id == "hd0000abcd-7"
    assert ASTER_ID.match(aster.client_id(0xFFFFFFFF, 10**20))
    assert aster.owns(0xABCD, client_id)
    assert not aster.owns(0xABCE, client_id)
    for foreign in ["hd0000abcd-", "hd0000abcd-7x", "web_12345", "hd0000abcd-٣"]:
        assert not aster.owns(0xABCD, foreign)
    with pytest.raises(ValueError):
        aster.client_id(0xABCD, 10**30)  # longer than 36 characters


def test_backpack_client_ids_are_uint32(world: World) -> None:
    backpack = SimVenue(world, "backpack", "bob")
    assert backpack.client_id(5, 7) == str((5 << 22) | 7)
    assert backpack.client_id(0x3FF, 0x3FFFFF) == str(2**32 - 1)
    assert backpack.client_id(0x405, 7) == backpack.client_id(5, 7)  # 10 bits of namespace
    assert backpack.client_id(5, (1 << 22) + 7) == backpack.client_id(5, 7)  # seq wraps
    assert backpack.owns(5, backpack.client_id(5, 123))
    assert not backpack.owns(6, backpack.client_id(5, 123))
    for foreign in ["7", "", "-1", str(2**32 + (5 << 22)), "abc"]:
        assert not backpack.owns(5, foreign)


async def test_rules_and_quote(aster: SimVenue) -> None:
    await aster.start()
    rules = await aster.rules(ASTER_SYMBOL)
    assert (rules.symbol, rules.tick, rules.step, rules.min_notional) == (
        ASTER_SYMBOL,
        D("0.01"),
        D("0.01"),
        D(5),
    )
    before = time.monotonic()
    quote = await aster.quote(ASTER_SYMBOL)
    assert (quote.venue, quote.bid, quote.ask) == ("aster", D("150.00"), D("150.01"))
    assert before <= quote.at <= time.monotonic()
    with pytest.raises(VenueError):
        await aster.rules("BTCUSDT")
    with pytest.raises(VenueError):
        await aster.quote("BTCUSDT")
    with pytest.raises(VenueError):
        await aster.position("BTCUSDT")
    await aster.close()


async def test_quotes_stream_the_current_book_then_changes(world: World, aster: SimVenue) -> None:
    stream = aster.quotes(ASTER_SYMBOL)
    assert (await anext(stream)).bid == D("150.00")
    world.set_price(D(151))
    assert (await anext(stream)).bid == D("151.00")
    await stream.aclose()
    world.set_price(D(152))  # the closed stream no longer listens


async def test_place_market_then_read_everything_back(aster: SimVenue) -> None:
    outcome = await aster.place(buy("m1", "2"))
    assert isinstance(outcome, Accepted)
    order = outcome.order
    assert (order.client_id, order.status, order.filled_qty) == ("m1", OrderStatus.FILLED, D(2))
    assert (order.avg_price, order.venue_order_id) == (D("150.01"), "1")
    assert await aster.query(ASTER_SYMBOL, "m1") == order
    position = await aster.position(ASTER_SYMBOL)
    assert (position.venue, position.qty, position.entry_price) == ("aster", D(2), D("150.01"))
    [fill] = await aster.fills(ASTER_SYMBOL, "m1")
    assert (fill.venue, fill.client_id, fill.qty, fill.price) == ("aster", "m1", D(2), D("150.01"))
    assert fill.fee == D("0.105007")  # 2 x 150.01 x 0.00035
    assert not fill.maker


async def test_take_profit_rests_and_cancels(aster: SimVenue) -> None:
    await aster.place(buy("open"))
    placed = await aster.place(take_profit("tp"))
    assert isinstance(placed, Accepted) and placed.order.status is OrderStatus.NEW
    assert placed.order.reduce_only and placed.order.price == D("160.00")
    assert await aster.open_orders(ASTER_SYMBOL) == [placed.order]
    canceled = await aster.cancel(ASTER_SYMBOL, "tp")
    assert isinstance(canceled, Accepted) and canceled.order.status is OrderStatus.CANCELED
    assert await aster.open_orders(ASTER_SYMBOL) == []
    again = await aster.cancel(ASTER_SYMBOL, "tp")
    assert isinstance(again, Rejected) and again.code == "ORDER_CLOSED"


async def test_unknown_orders(aster: SimVenue) -> None:
    assert await aster.query(ASTER_SYMBOL, "never") is None
    assert await aster.fills(ASTER_SYMBOL, "never") == []
    outcome = await aster.cancel(ASTER_SYMBOL, "never")
    assert isinstance(outcome, Rejected) and outcome.code == "UNKNOWN_ORDER"


async def test_venue_refusals_are_rejected_with_their_code(aster: SimVenue) -> None:
    outcome = await aster.place(buy("tiny", "0.03"))
    assert isinstance(outcome, Rejected)
    assert outcome.code == "MIN_NOTIONAL" and "5" in outcome.message
    retried = await aster.place(buy("tiny", "1"))
    assert isinstance(retried, Accepted)  # a refused order does not take its client id
    again = await aster.place(buy("tiny", "1"))
    assert isinstance(again, Rejected) and again.code == "DUPLICATE_CLIENT_ID"


async def test_submissions_count_every_client_id_that_reached_place(aster: SimVenue) -> None:
    aster.faults.arm("place", "drop")
    await aster.place(buy("a"))
    await aster.place(buy("b"))
    await aster.place(buy("b"))
    assert aster.submissions == {"a": 1, "b": 2}


async def test_fault_reject(aster: SimVenue) -> None:
    aster.faults.arm("place", "reject", times=2)
    for client_id in ["r1", "r2"]:
        outcome = await aster.place(buy(client_id))
        assert isinstance(outcome, Rejected) and outcome.code == "INJECTED"
        assert await aster.query(ASTER_SYMBOL, client_id) is None
    assert isinstance(await aster.place(buy("r3")), Accepted)  # disarmed after two calls


async def test_fault_ambiguous_after_accept_places_the_order(aster: SimVenue) -> None:
    aster.faults.arm("place", "accept_then_timeout")
    assert await aster.place(buy("lost")) == Ambiguous("timeout")
    order = await aster.query(ASTER_SYMBOL, "lost")
    assert order is not None and order.status is OrderStatus.FILLED
    assert (await aster.position(ASTER_SYMBOL)).qty == D(1)


async def test_fault_ambiguous_before_places_nothing(aster: SimVenue) -> None:
    aster.faults.arm("place", "drop")
    assert await aster.place(buy("never")) == Ambiguous("connection reset")
    assert await aster.query(ASTER_SYMBOL, "never") is None
    assert (await aster.position(ASTER_SYMBOL)).qty == 0


async def test_cancel_faults(aster: SimVenue) -> None:
    await aster.place(buy("open"))
    await aster.place(take_profit("tp"))
    aster.faults.arm("cancel", "reject")
    assert isinstance(await aster.cancel(ASTER_SYMBOL, "tp"), Rejected)
    aster.faults.arm("cancel", "drop")
    assert await aster.cancel(ASTER_SYMBOL, "tp") == Ambiguous("connection reset")
    still_open = await aster.query(ASTER_SYMBOL, "tp")
    assert still_open is not None and still_open.status is OrderStatus.NEW
    aster.faults.arm("cancel", "accept_then_timeout")
    assert await aster.cancel(ASTER_SYMBOL, "tp") == Ambiguous("timeout")
    canceled = await aster.query(ASTER_SYMBOL, "tp")
    assert canceled is not None and canceled.status is OrderStatus.CANCELED


@pytest.mark.parametrize("method", READS)
async def test_fault_error_makes_a_read_raise(aster: SimVenue, method: str) -> None:
    aster.faults.arm(method, "error_5xx")
    with pytest.raises(VenueError):
        await call_read(aster, method)
    await call_read(aster, method)  # one call only


async def test_fault_partial_fills_a_fraction_and_expires_the_rest(aster: SimVenue) -> None:
    aster.faults.arm("place", "partial", fraction=D("0.5"))
    outcome = await aster.place(buy("half", "1.25"))
    assert isinstance(outcome, Accepted)
    assert (outcome.order.status, outcome.order.filled_qty) == (OrderStatus.EXPIRED, D("0.62"))
    assert (await aster.position(ASTER_SYMBOL)).qty == D("0.62")


async def test_fault_latency_delays_the_call(aster: SimVenue) -> None:
    aster.faults.arm("position", "latency", seconds=0.05)
    started = time.monotonic()
    await aster.position(ASTER_SYMBOL)
    assert time.monotonic() - started >= 0.045
    aster.faults.arm("place", "latency", seconds=30.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(aster.place(buy("slow")), timeout=0.01)
    assert await aster.query(ASTER_SYMBOL, "slow") is None  # it never got through


async def test_latency_combines_with_another_fault(aster: SimVenue) -> None:
    aster.faults.arm("place", "latency", seconds=0.01)
    aster.faults.arm("place", "accept_then_timeout")
    assert await aster.place(buy("both")) == Ambiguous("timeout")
    assert await aster.query(ASTER_SYMBOL, "both") is not None


async def test_fault_stale_silences_the_stream_while_armed(world: World, aster: SimVenue) -> None:
    received: list[Quote] = []

    async def consume(stream: AsyncIterator[Quote]) -> None:
        async for quote in stream:
            received.append(quote)

    consumer = asyncio.create_task(consume(aster.quotes(ASTER_SYMBOL)))
    await settle()
    assert [q.bid for q in received] == [D("150.00")]
    aster.faults.arm("quotes", "stale", times=None)
    world.set_price(D(151))
    world.set_price(D(152))
    await settle()
    assert len(received) == 1
    aster.faults.clear("quotes")
    world.set_price(D(153))
    await settle()
    assert [q.bid for q in received] == [D("150.00"), D("153.00")]
    aster.faults.arm("quotes", "stale", times=2)  # swallows the next two updates only
    for price in [154, 155, 156]:
        world.set_price(D(price))
    await settle()
    assert received[-1].bid == D("156.00") and len(received) == 3
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer


def test_faults_only_arm_where_they_make_sense(aster: SimVenue) -> None:
    for method, kind in [
        ("query", "reject"),
        ("place", "error_5xx"),
        ("cancel", "partial"),
        ("quote", "stale"),
        ("nonsense", "latency"),
        ("place", "rate_limit"),  # an HTTP answer: wire only
    ]:
        with pytest.raises(ValueError):
            aster.faults.arm(method, kind)
    with pytest.raises(ValueError):
        aster.faults.arm("place", "explode")


async def test_both_venues_share_one_world(world: World) -> None:
    aster, backpack = SimVenue(world, "aster", "a"), SimVenue(world, "backpack", "b")
    short = OrderRequest("s", ASTER_SYMBOL, Side.SELL, OrderType.MARKET, D(1))
    long = OrderRequest("1", BACKPACK_SYMBOL, Side.BUY, OrderType.MARKET, D(1))
    outcomes = await asyncio.gather(aster.place(short), backpack.place(long))
    assert all(isinstance(outcome, Accepted) for outcome in outcomes)
    assert (await aster.position(ASTER_SYMBOL)).qty == D(-1)
    assert (await backpack.position(BACKPACK_SYMBOL)).qty == D(1)
