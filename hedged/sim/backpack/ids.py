"""What Backpack's wire adds to the core's orders, and every order and fill of the exchange.

The core keys orders by a client id string that is unique forever per account; Backpack's
`clientId` is a uint32 that only has to be unique among open orders, and is optional. So each
order gets a core id `<clientId>` (`<clientId>.<n>` when reused, `~<n>` when absent) and its
wire details (time in force, quote quantity, why it would expire) are kept here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import count

from hedged.sim.exchange import SimExchange
from hedged.sim.records import SimFill, SimOrder, from_json

ANONYMOUS = "~"


@dataclass(frozen=True, slots=True)
class OrderMeta:
    client_id: int | None
    time_in_force: str = "GTC"
    self_trade_prevention: str = "RejectTaker"
    quote_quantity: Decimal | None = None
    expiry_reason: str | None = None  # why Backpack would expire it (IOC, FOK), if it does
    trigger_quantity: str | None = None  # as sent: a quantity, or a percentage of the position


# Called after every order change with the order's wire details.
OrderEvent = Callable[[SimOrder, SimFill | None, OrderMeta], None]


def wire_client_id(core_client_id: str) -> int | None:
    """The Backpack `clientId` of a core client id (None when the order had none)."""
    head = core_client_id.split(".", 1)[0]
    return int(head) if head.isdigit() else None


class ClientIds:
    def __init__(self, exchange: SimExchange) -> None:
        self.orders: dict[str, SimOrder] = {}  # latest state by venue order id, oldest first
        self.fills: list[SimFill] = []
        self._meta: dict[tuple[str, str], OrderMeta] = {}
        self._taken: set[tuple[str, str]] = set()
        self._anonymous = count(1)
        self._listeners: list[OrderEvent] = []
        self._detached = False
        state = exchange.to_dict()
        for item in state["orders"]:
            self._record(from_json(SimOrder, item), None)
        fills = [from_json(SimFill, item) for item in state["fills"]]
        self.fills = sorted(fills, key=lambda fill: (fill.at, _number(fill.trade_id)))
        exchange.add_listener(self._on_change)

    def add_listener(self, listener: OrderEvent) -> None:
        self._listeners.append(listener)

    def detach(self) -> None:
        """Stop following the exchange (it has no way to remove a listener)."""
        self._detached = True
        self._listeners.clear()

    def meta(self, order: SimOrder) -> OrderMeta:
        meta = self._meta.get((order.account, order.client_id))
        return meta if meta is not None else OrderMeta(wire_client_id(order.client_id))

    def reserve(self, account: str, meta: OrderMeta) -> str:
        """A fresh core client id for an order about to be placed with these wire details."""
        base = str(meta.client_id) if meta.client_id is not None else None
        generation = 1
        while True:
            if base is None:
                core_id = f"{ANONYMOUS}{next(self._anonymous)}"
            else:
                core_id = base if generation == 1 else f"{base}.{generation}"
                generation += 1
            if (account, core_id) not in self._taken:
                break
        self._taken.add((account, core_id))
        self._meta[(account, core_id)] = meta
        return core_id

    def release(self, account: str, core_id: str) -> None:
        """The core refused the order: its client id was never used."""
        self._taken.discard((account, core_id))
        self._meta.pop((account, core_id), None)

    def _on_change(self, order: SimOrder, fill: SimFill | None) -> None:
        if self._detached:
            return
        self._record(order, fill)
        meta = self.meta(order)
        for listener in self._listeners:
            listener(order, fill, meta)

    def _record(self, order: SimOrder, fill: SimFill | None) -> None:
        self.orders[order.order_id] = order
        self._taken.add((order.account, order.client_id))
        if fill is not None:
            self.fills.append(fill)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0
