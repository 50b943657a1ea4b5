"""The fleet's share plan (hedged.fleet), as pure logic: daemons looking at one store in turn
end with every book held by exactly one of them, each holding a fair share, and then stay put."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hedged.fleet import View, plan, share, view_of


def book(i: int) -> str:
    return f"aster:P{i}USDT+backpack:P{i}_USDC_PERP"


class Store:
    """Leases as the store would hand them out: a take succeeds only on a free book."""

    def __init__(self, books: int) -> None:
        self.books = tuple(book(i) for i in range(books))
        self.held: dict[str, str] = {}
        self.live: set[str] = set()

    def view(self) -> View:
        return View(self.books, frozenset(self.live), dict(self.held))

    def look(self, me: str) -> bool:
        """One daemon's look: act on its plan; whether anything moved."""
        p = plan(self.view(), me)
        moved = False
        for b in p.take:
            if b not in self.held:
                self.held[b] = me
                moved = True
        if p.give_up is not None:
            assert self.held[p.give_up] == me
            del self.held[p.give_up]
            moved = True
        return moved

    def settle(self, rng: random.Random, looks: int) -> int:
        """Daemons look in random order until a whole pass moves nothing; the passes taken."""
        for passes in range(1, looks + 1):
            order = sorted(self.live)
            rng.shuffle(order)
            if not any([self.look(me) for me in order]):
                return passes
        raise AssertionError(f"no stable share after {looks} passes: {self.counts()}")

    def counts(self) -> dict[str, int]:
        return {d: sum(1 for h in self.held.values() if h == d) for d in sorted(self.live)}

    def assert_fair(self) -> None:
        assert set(self.held) == set(self.books), "a book nobody holds"
        least, most = share(len(self.books), len(self.live))
        assert all(least <= n <= most for n in self.counts().values()), self.counts()


def test_share_bounds() -> None:
    assert share(12, 3) == (4, 4)
    assert share(13, 3) == (4, 5)
    assert share(2, 3) == (0, 1)
    assert share(5, 0) == (0, 5)


def test_a_lone_daemon_takes_every_book() -> None:
    store = Store(4)
    store.live = {"a"}
    store.settle(random.Random(1), 5)
    assert store.counts() == {"a": 4}


def test_three_daemons_then_one_dies_then_one_joins() -> None:
    rng = random.Random(7)
    store = Store(12)
    store.live = {"a", "b", "c"}
    store.settle(rng, 20)
    store.assert_fair()
    assert store.counts() == {"a": 4, "b": 4, "c": 4}
    # c is killed: its leases lapse and its check-ins stop
    store.live.discard("c")
    store.held = {b: h for b, h in store.held.items() if h != "c"}
    assert store.settle(rng, 20) <= 2  # the survivors take its books at their next look
    assert store.counts() == {"a": 6, "b": 6}
    # a new daemon joins: one book at a time moves to it
    store.live.add("d")
    store.settle(rng, 20)
    store.assert_fair()
    assert store.counts() == {"a": 4, "b": 4, "d": 4}


def test_within_the_ceiling_only_the_fullest_daemon_gives_a_book_up() -> None:
    store = Store(7)
    store.live = {"a", "b"}
    store.settle(random.Random(3), 10)
    fullest = max(store.counts(), key=lambda d: store.counts()[d])
    store.live.add("c")  # shares now 2..3: a newcomer short of books, none free
    plans = {me: plan(store.view(), me) for me in ("a", "b", "c")}
    assert {me for me, p in plans.items() if p.give_up is not None} == {fullest}
    assert plans["c"].take == ()


@settings(max_examples=200, deadline=None)
@given(
    books=st.integers(min_value=0, max_value=40),
    daemons=st.integers(min_value=1, max_value=6),
    deaths=st.integers(min_value=0, max_value=3),
    joins=st.integers(min_value=0, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_fleet_settles_on_a_fair_share(
    books: int, daemons: int, deaths: int, joins: int, seed: int
) -> None:
    rng = random.Random(seed)
    store = Store(books)
    store.live = {f"d{i}" for i in range(daemons)}
    store.settle(rng, books + 10)
    store.assert_fair()
    for i in range(joins):
        store.live.add(f"n{i}")
    for dead in sorted(store.live)[: min(deaths, len(store.live) - 1)]:
        store.live.discard(dead)
        store.held = {b: h for b, h in store.held.items() if h != dead}
    store.settle(rng, 2 * books + 10)
    store.assert_fair()
    settled = dict(store.held)
    assert not any(store.look(me) for me in sorted(store.live)), "a settled fleet moved"
    assert store.held == settled


def test_view_of_counts_holders_and_fresh_check_ins_only() -> None:
    leases = [(book(0), "a", 2_000), (book(1), "b", 500), (book(2), None, 0)]
    seen = [("a", 900), ("b", 100), ("c", 950), ("old", 10)]
    view = view_of([book(i) for i in range(3)], leases, seen, now_ms=1_000, live_ms=300)
    assert view.held == {book(0): "a"}  # b's lease lapsed
    assert view.live == frozenset({"a", "c"})  # b and old stopped checking in
