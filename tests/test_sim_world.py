import asyncio
import contextlib
from decimal import Decimal

import pytest

from hedged.model import OrderRequest, OrderStatus, OrderType, Side
from hedged.sim.exchange import SimExchange
from hedged.sim.pricepath import ScriptedPath
from hedged.sim.records import Book
from hedged.sim.world import ASTER_SYMBOL, BACKPACK_SYMBOL, World, default_world, sol_market

D = Decimal


def books(world: World) -> dict[str, Book]:
    """What each exchange holds as its top of book."""
    held: dict[str, Book] = {}
    for venue, exchange in world.venues.items():
        book = exchange.book(world.symbols[venue])
        assert book is not None
        held[venue] = book
    return held


def test_default_world_has_the_real_sol_markets() -> None:
    world = default_world(backpack_step=D("0.1"))
    aster = world.venues["aster"].markets[ASTER_SYMBOL]
    backpack = world.venues["backpack"].markets[BACKPACK_SYMBOL]
    assert (aster.tick, aster.step, aster.min_qty, aster.min_notional) == (
        D("0.01"),
        D("0.01"),
        D("0.01"),
        D(5),
    )
    assert (backpack.tick, backpack.step, backpack.min_qty) == (D("0.01"), D("0.1"), D("0.1"))
    assert (aster.taker_fee, aster.maker_fee) == (D("0.00035"), D("0.0001"))


def test_books_straddle_the_mid_on_the_tick() -> None:
    world = default_world(spread_bps=D(2))
    world.set_price(D("150.005"))
    # half spread = 150.005 x 1 bp = 0.0150005: bid rounds down, ask up.
    assert books(world)["aster"] == Book(D("149.98"), D("150.03"))


def test_basis_moves_the_second_venue() -> None:
    world = default_world(basis_bps=D(10), spread_bps=D(0))
    world.set_price(D(150))
    assert world.mid("backpack") == D("150.15")
    assert books(world) == {
        "aster": Book(D("150.00"), D("150.01")),  # no spread: the ask still sits a tick up
        "backpack": Book(D("150.15"), D("150.16")),
    }


def test_advance_follows_the_path_on_every_venue() -> None:
    exchange = SimExchange("a", {"X": sol_market("X", taker_fee=D(0), maker_fee=D(0))})
    world = World(ScriptedPath([D(100), D(110)]), {"a": exchange}, {"a": "X"}, spread_bps=D(0))
    assert world.advance(1.0) == D(110)
    assert exchange.book("X") == Book(D("110.00"), D("110.01"))


def test_same_seed_same_world() -> None:
    first, second = default_world(seed=4), default_world(seed=4)
    for _ in range(50):
        first.advance(60.0)
        second.advance(60.0)
    assert books(first) == books(second)
    assert books(first) != books(default_world(seed=4))


def test_listeners_hear_each_venue_on_each_change() -> None:
    world = default_world()
    heard: list[tuple[str, str]] = []

    def listener(venue: str, symbol: str, book: Book) -> None:
        heard.append((venue, symbol))

    world.add_listener(listener)
    world.advance(1.0)
    world.set_price(D(151))
    assert heard == [("aster", ASTER_SYMBOL), ("backpack", BACKPACK_SYMBOL)] * 2
    world.remove_listener(listener)
    world.advance(1.0)
    assert len(heard) == 4


def test_a_resting_order_fills_when_the_world_moves() -> None:
    world = default_world(spread_bps=D(0))
    world.set_price(D(150))
    backpack = world.venues["backpack"]
    take_profit = OrderRequest("tp", BACKPACK_SYMBOL, Side.SELL, OrderType.LIMIT, D(1), D(152))
    backpack.place("bob", take_profit)
    world.set_price(D(152))
    order = backpack.order("bob", BACKPACK_SYMBOL, client_id="tp")
    assert order is not None and order.status is OrderStatus.FILLED


def test_world_needs_one_symbol_per_venue() -> None:
    exchange = SimExchange("a", {"X": sol_market("X", taker_fee=D(0), maker_fee=D(0))})
    with pytest.raises(ValueError):
        World(ScriptedPath([D(1)]), {"a": exchange}, {"b": "X"})


async def test_run_advances_in_real_time_until_cancelled() -> None:
    world = default_world()
    changes = asyncio.Event()
    world.add_listener(lambda venue, symbol, book: changes.set())
    runner = asyncio.create_task(world.run(0.001))
    await asyncio.wait_for(changes.wait(), timeout=5)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert runner.cancelled()
