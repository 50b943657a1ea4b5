"""What Aster keeps beside the matching core: account settings (position mode, leverage,
margin type), listen keys, each order's time in force, and the expiry of reduce-only orders
left without a position. Placing and cancelling, with the venue-side rules the core does not
know (client-id uniqueness across position sides, margin, IOC/FOK), are in `orders`.

Hedge mode (dualSidePosition) keeps each side's position in its own core account
`<account>/LONG` and `<account>/SHORT`, so the core's net positions still apply.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from hedged.model import ZERO, OrderStatus
from hedged.sim.arrivals import Arrivals
from hedged.sim.aster.errors import (
    AsterError,
    no_listen_key,
)
from hedged.sim.aster.filters import AsterFilters
from hedged.sim.aster.shapes import OrderView, PositionRow, Wallet
from hedged.sim.candles import Tape
from hedged.sim.funding import ASTER_FUNDING, FundingView
from hedged.sim.records import Book, SimFill, SimOrder
from hedged.sim.world import World

HEDGE_SIDES = ("LONG", "SHORT")
LISTEN_KEY_SECONDS = 3600.0
DEFAULT_LEVERAGE = 20
MAX_LEVERAGE = 125


def core_account(account: str, position_side: str) -> str:
    return account if position_side == "BOTH" else f"{account}/{position_side}"


def split_core(core: str) -> tuple[str, str]:
    """(Aster account, position side) of a core account."""
    base, _, side = core.rpartition("/")
    return (base, side) if base and side in HEDGE_SIDES else (core, "BOTH")


@dataclass
class AccountSettings:
    dual: bool = False
    leverage: int = DEFAULT_LEVERAGE
    margin_type: str = "CROSSED"


@dataclass
class ListenKey:
    key: str
    account: str
    expires_at: float


class AsterState:
    """The Aster side of `world.venues[venue]` for one symbol. Every change goes through the
    core; listeners see them through `SimExchange.add_listener` / `World.add_listener`.

    A venue listing several symbols has one per symbol (`desks`, by symbol), made with
    `shared`: they share what belongs to the account rather than to a symbol (settings,
    listen keys, the submissions and arrivals counted)."""

    def __init__(
        self,
        world: World,
        venue: str,
        filters: AsterFilters,
        clock: Callable[[], float],
        *,
        symbol: str | None = None,
        shared: AsterState | None = None,
    ) -> None:
        self.world = world
        self.venue = venue
        self.exchange = world.venues[venue]
        self.symbol = symbol or world.symbols[venue]
        self.market = self.exchange.markets[self.symbol]
        self.filters = filters
        self.clock = clock
        self.closed = False  # set when the app shuts down: the core's listeners stay registered
        self.key_expired: list[Callable[[ListenKey], None]] = []
        self._settings: dict[str, AccountSettings] = {}
        self._listen_keys: dict[str, ListenKey] = {}  # by account
        self._tif: dict[str, str] = {}  # by order id
        self._expired: set[str] = set()  # order ids the simulator closed as EXPIRED
        self.price_protected: set[str] = set()  # order ids placed with priceProtect=true
        self.pending_tif = "GTC"  # the time in force of the order being placed (orders.place)
        self._order_ids: dict[str, list[str]] = {}  # by core account, in arrival order
        self._known: set[str] = set()
        self._updated_at: dict[str, float] = {}  # by core account: last order change
        self.update_id = 0  # of the book, for bookTicker `u` and depth `lastUpdateId`
        self.submissions: Counter[str] = Counter()
        self.arrivals = Arrivals()
        for order in self.exchange.to_dict()["orders"]:
            self._index(order["account"], order["order_id"])
        self.exchange.add_listener(self._on_order)
        world.add_listener(self._on_book, (venue, self.symbol))
        self.tape = Tape(world, venue, self.symbol)
        self.desks: dict[str, AsterState] = {}
        if shared is not None:
            self._settings, self._listen_keys = shared._settings, shared._listen_keys
            self.key_expired, self.submissions = shared.key_expired, shared.submissions
            self.arrivals, self.desks = shared.arrivals, shared.desks
        self.desks[self.symbol] = self

    def close(self) -> None:
        """Stop acting on the core's events (SimExchange listeners cannot be removed)."""
        self.closed = True
        self.world.remove_listener(self._on_book)
        self.tape.close()

    # Market

    def book(self) -> Book:
        book = self.exchange.book(self.symbol)
        return book if book is not None else self.world.book(self.venue, self.symbol)

    def mark(self) -> Decimal:
        return self.world.mid(self.venue, self.symbol)

    def index(self) -> Decimal:
        return self.world.underlying(self.venue, self.symbol)

    def funding(self) -> FundingView:
        return self.world.funding_view(self.venue, self.symbol, ASTER_FUNDING, self.clock())

    def top_qty(self) -> Decimal:
        """The quantity shown at the touch: what one taker order can take."""
        return self.market.depth_qty or self.filters.market_max_qty

    # Accounts

    def settings(self, account: str) -> AccountSettings:
        return self._settings.setdefault(account, AccountSettings())

    def cores(self, account: str) -> list[str]:
        return [account, *(core_account(account, side) for side in HEDGE_SIDES)]

    def position_rows(self, account: str) -> list[PositionRow]:
        """BOTH in one-way mode; LONG and SHORT in hedge mode."""
        settings = self.settings(account)
        sides = HEDGE_SIDES if settings.dual else ("BOTH",)
        return [self.position_row(core_account(account, side)) for side in sides]

    def position_row(self, core: str) -> PositionRow:
        settings = self.settings(split_core(core)[0])
        return PositionRow(
            position=self.exchange.position(core, self.symbol),
            side=split_core(core)[1],
            mark=self.mark(),
            leverage=settings.leverage,
            margin_type=settings.margin_type,
            updated_at=self._updated_at.get(core, 0.0),
        )

    def wallet(self, account: str) -> Wallet:
        balance = sum((self.exchange.balance(core) for core in self.cores(account)), ZERO)
        rows = [self.position_row(core) for core in self.cores(account)]
        unrealized = sum((row.unrealized for row in rows), ZERO)
        leverage = self.settings(account).leverage
        used = sum((abs(row.position.qty) * row.mark for row in rows), ZERO)
        used += sum(
            (
                o.remaining * (o.price or ZERO)
                for o in self.open_orders(account, every_symbol=True)
                if not o.reduce_only
            ),
            ZERO,
        )
        return Wallet(balance, unrealized, balance + unrealized - used / leverage)

    def max_notional(self, account: str) -> Decimal:
        """A flat stand-in for the leverage brackets."""
        return Decimal(50_000_000) / self.settings(account).leverage

    def set_leverage(self, account: str, leverage: int) -> None:
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise AsterError(-4028, f"Leverage {leverage} is not valid")
        self.settings(account).leverage = leverage

    def set_margin_type(self, account: str, margin_type: str) -> None:
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise AsterError(-1130, "Data sent for parameter 'marginType' is not valid.")
        settings = self.settings(account)
        if settings.margin_type == margin_type:
            raise AsterError(-4046, "No need to change margin type.")
        settings.margin_type = margin_type

    def set_dual(self, account: str, dual: bool) -> None:
        settings = self.settings(account)
        if settings.dual == dual:
            raise AsterError(-4059, "No need to change position side.")
        if self.open_orders(account, every_symbol=True):
            raise AsterError(-4067, "Position side cannot be changed if there exists open orders.")
        if any(self.exchange.position(core, self.symbol).qty for core in self.cores(account)):
            raise AsterError(-4068, "Position side cannot be changed if there exists position.")
        settings.dual = dual

    # Orders

    def view(self, order: SimOrder) -> OrderView:
        status = order.status.value
        expired = order.status is OrderStatus.CANCELED and order.order_id in self._expired
        # A fired order the venue cannot execute expires (Binance's behaviour).
        if expired or order.status is OrderStatus.REJECTED:
            status = OrderStatus.EXPIRED.value
        _, side = split_core(order.account)
        return OrderView(
            order=order,
            status=status,
            time_in_force=self._tif.get(order.order_id, "GTC"),
            position_side=side,
            reduce_only=order.reduce_only and side == "BOTH",
            price_protect=order.order_id in self.price_protected,
        )

    def find(
        self, account: str, *, order_id: str | None = None, client_id: str | None = None
    ) -> SimOrder | None:
        for core in self.cores(account):
            order = self.exchange.order(core, self.symbol, order_id=order_id, client_id=client_id)
            if order is not None:
                return order
        return None

    def orders(self, account: str) -> list[SimOrder]:
        """Every order of the account, oldest first."""
        found = (
            self.exchange.order(core, self.symbol, order_id=order_id)
            for core in self.cores(account)
            for order_id in self._order_ids.get(core, [])
        )
        return sorted((o for o in found if o is not None), key=lambda o: int(o.order_id))

    def open_orders(self, account: str, every_symbol: bool = False) -> list[SimOrder]:
        """The account's resting orders on this symbol (or on every symbol)."""
        symbol = None if every_symbol else self.symbol
        cores = self.cores(account)
        orders = (o for core in cores for o in self.exchange.open_orders(core, symbol))
        return sorted(orders, key=lambda o: int(o.order_id))

    def fills(self, account: str) -> list[SimFill]:
        return [
            fill
            for order in self.orders(account)
            for fill in self.exchange.fills(order.account, self.symbol, order_id=order.order_id)
        ]

    def expire_orphans(self, cores: Iterable[str] | None = None) -> None:
        """Expire resting reduce-only orders that no longer reduce anything (Binance does;
        UNCONFIRMED for Aster)."""
        for core in list(cores if cores is not None else self._order_ids):
            position = self.exchange.position(core, self.symbol)
            for order in self.exchange.open_orders(core, self.symbol):
                if order.reduce_only and position.reducible(order.side) == 0:
                    self.expire(order)

    # Listen keys

    def open_listen_key(self, account: str) -> str:
        """The account's active key, extended, or a new one."""
        self.expire_listen_keys()
        key = self._listen_keys.get(account)
        if key is None:
            key = self._listen_keys[account] = ListenKey(secrets.token_hex(32), account, 0.0)
        key.expires_at = self.clock() + LISTEN_KEY_SECONDS
        return key.key

    def keep_alive(self, account: str, key: str | None) -> None:
        self._active(account, key).expires_at = self.clock() + LISTEN_KEY_SECONDS

    def close_listen_key(self, account: str, key: str | None) -> None:
        del self._listen_keys[self._active(account, key).account]

    def listen_key(self, account: str) -> str | None:
        self.expire_listen_keys()
        key = self._listen_keys.get(account)
        return key.key if key is not None else None

    def expire_listen_keys(self) -> None:
        now = self.clock()
        for key in [k for k in self._listen_keys.values() if k.expires_at <= now]:
            del self._listen_keys[key.account]
            for listener in self.key_expired:
                listener(key)

    # Internals

    def _active(self, account: str, key: str | None) -> ListenKey:
        self.expire_listen_keys()
        active = self._listen_keys.get(account)
        if active is None or key not in (None, active.key):
            raise no_listen_key()
        return active

    def expire(self, order: SimOrder) -> SimOrder:
        self._expired.add(order.order_id)
        return self.exchange.cancel(order.account, self.symbol, order_id=order.order_id)

    def latest(self, order: SimOrder) -> SimOrder:
        latest = self.exchange.order(order.account, self.symbol, order_id=order.order_id)
        return latest if latest is not None else order

    def _index(self, core: str, order_id: str) -> None:
        if order_id not in self._known:
            self._known.add(order_id)
            self._order_ids.setdefault(core, []).append(order_id)

    def _on_order(self, order: SimOrder, fill: SimFill | None) -> None:
        if order.order_id not in self._known:
            self._tif[order.order_id] = self.pending_tif
            self._index(order.account, order.order_id)
        self._updated_at[order.account] = order.updated_at

    def _on_book(self, venue: str, symbol: str, book: Book) -> None:
        if not self.closed:
            self.update_id += 1
            self.expire_orphans()
