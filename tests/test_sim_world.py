import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest

from hedged.model import OrderRequest, OrderStatus, OrderType, Side
from hedged.sim.accounts import Accounts
from hedged.sim.exchange import SimExchange
from hedged.sim.pricepath import ScriptedPath
from hedged.sim.records import Book
from hedged.sim.server import WorldSpec, build_world, save_world
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


def test_a_listener_of_one_market_hears_that_market_only() -> None:
    world = default_world()
    heard: list[tuple[str, str]] = []
    world.add_listener(
        lambda venue, symbol, book: heard.append((venue, symbol)), ("aster", ASTER_SYMBOL)
    )
    world.advance(1.0)
    world.set_price(D(151))
    assert heard == [("aster", ASTER_SYMBOL)] * 2


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


PAIRS = {"aster": ("SOLUSDT", "ETHUSDT", "BTCUSDT"), "backpack": ("SOL", "ETH", "BTC")}


def several_pairs(state_file: Path | None = None) -> World:
    spec = WorldSpec(symbols=PAIRS, seed=5, volatility=D(20), basis_bps=D(0))
    return build_world(spec, Accounts(balances={"alice": D(1000)}), state_file)


def test_each_pair_moves_on_its_own_seeded_path() -> None:
    world = several_pairs()
    world.advance(60.0)
    prices = [world.underlying("aster", symbol) for symbol in PAIRS["aster"]]
    assert len(set(prices)) == 3  # three paths, not one
    for aster, backpack in zip(PAIRS["aster"], PAIRS["backpack"], strict=True):
        assert world.mid("aster", aster) == world.mid("backpack", backpack)  # a pair's venues
    again = several_pairs()
    again.advance(60.0)
    assert [again.underlying("aster", s) for s in PAIRS["aster"]] == prices  # from the seed
    # the main pair moves as a world of one pair on the same seed does
    one = build_world(
        WorldSpec(symbols={"aster": "SOLUSDT"}, seed=5, volatility=D(20)), Accounts(), None
    )
    one.advance(60.0)
    assert one.price == world.price == prices[0]


def test_a_price_set_for_one_symbol_moves_its_pair_only(tmp_path: Path) -> None:
    world = several_pairs(tmp_path / "state.json")
    world.set_price(D(200), "ETH")
    assert [world.underlying("aster", s) for s in PAIRS["aster"]] == [D(150), D(200), D(150)]
    with pytest.raises(KeyError):
        world.set_price(D(1), "DOGE")
    world.set_price(D(90))  # without a symbol: every pair
    assert {world.underlying("backpack", s) for s in PAIRS["backpack"]} == {D(90)}
    world.set_price(D(120), "BTCUSDT")
    save_world(world, tmp_path / "state.json")
    restored = several_pairs(tmp_path / "state.json")
    assert [restored.underlying("aster", s) for s in PAIRS["aster"]] == [D(90), D(90), D(120)]
