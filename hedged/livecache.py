"""The active rounds and their orders, kept in memory by the process that writes them.

The daemon is the only writer of rounds and orders (hedgectl writes commands only), so after
each committed write its copy here is exact, and a step reads no table before its decision.
Finished rounds leave the cache; a round not seen yet is loaded on first use."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hedged.store import OrderRow, RoundRow


class LiveCache:
    def __init__(self, active_states: Collection[str]) -> None:
        self._active = active_states
        self.rounds: dict[int, RoundRow] = {}
        self._orders: dict[int, dict[int, OrderRow]] = {}  # round -> order id -> row, by id
        self._by_id: dict[int, OrderRow] = {}
        self._by_client: dict[tuple[str, str], OrderRow] = {}

    def put_round(self, row: RoundRow) -> None:
        assert row.id is not None
        if row.state in self._active:
            self.rounds[row.id] = row
            return
        self.rounds.pop(row.id, None)
        for o in self._orders.pop(row.id, {}).values():
            self._forget(o)

    def orders_of(self, round_id: int) -> list[OrderRow] | None:
        """The round's orders, or None when they have not been loaded yet."""
        orders = self._orders.get(round_id)
        return None if orders is None else list(orders.values())

    def load_orders(self, round_id: int, rows: list[OrderRow]) -> None:
        if round_id in self.rounds:
            self._orders[round_id] = {}
            for row in rows:
                self.put_order(row)

    def put_order(self, row: OrderRow) -> None:
        """A new or changed order of a round whose orders are loaded (else it is left to
        the load)."""
        assert row.id is not None
        orders = self._orders.get(row.round_id)
        if orders is None:
            return
        orders[row.id] = row
        self._by_id[row.id] = row
        if row.client_id is not None:
            self._by_client[(row.venue, row.client_id)] = row

    def order(self, order_id: int) -> OrderRow | None:
        return self._by_id.get(order_id)

    def order_by_client_id(self, venue: str, client_id: str) -> OrderRow | None:
        return self._by_client.get((venue, client_id))

    def _forget(self, row: OrderRow) -> None:
        assert row.id is not None
        self._by_id.pop(row.id, None)
        if row.client_id is not None:
            self._by_client.pop((row.venue, row.client_id), None)
