"""Aster's orders: a new order as the venue reads it (`POST /order`, its checks in the venue's
order), placed on the core, cancelled. LIMIT, MARKET, and the conditional STOP_MARKET and
TAKE_PROFIT_MARKET (a core STOP_MARKET with its trigger terms)."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hedged.model import ZERO, OrderRequest, OrderType, Side, floor_to
from hedged.sim.aster.errors import (
    AsterError,
    bad_value,
    from_refusal,
    mandatory,
    margin_insufficient,
    not_required,
    reduce_only_rejected,
    unknown_order_sent,
)
from hedged.sim.aster.filters import check_filters
from hedged.sim.aster.params import check_symbol, choice, decimal_param, flag
from hedged.sim.aster.state import AsterState, core_account
from hedged.sim.records import OrderRefused, OrderTerms, PriceSource, SimOrder, TriggerTerms

TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "HIDDEN")  # HIDDEN rests like GTC here
ALL_ORDER_TYPES = frozenset(
    {"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
     "TRAILING_STOP_MARKET"}
)  # fmt: skip
SERVED_TYPES = ("LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET")
CONDITIONAL_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
WORKING_TYPES = {"CONTRACT_PRICE": PriceSource.LAST, "MARK_PRICE": PriceSource.MARK}
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
RESPONSE_TYPES = ("ACK", "RESULT")
_ID_ALPHABET = string.ascii_letters + string.digits  # the venue's own ids: 22 of these
CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")  # the rule for newClientOrderId


@dataclass(frozen=True, slots=True)
class NewOrder(OrderTerms):
    """A parsed `POST /order`. `reduce_only` is the flag as sent (one-way mode only);
    `trigger` is set for a conditional order, with `stop_price`; `qty` is 0 with closePosition."""

    type: OrderType
    qty: Decimal
    position_side: str
    client_id: str | None
    response_type: str
    stop_price: Decimal | None = None
    price_protect: bool = False

    @property
    def close_position(self) -> bool:
        return self.trigger is not None and self.trigger.position_share is not None

    @property
    def reduces(self) -> bool:
        """Reduce-only, closePosition, or closing a hedge-mode side (a BUY on SHORT, a SELL on
        LONG)."""
        closing = {"LONG": Side.SELL, "SHORT": Side.BUY}.get(self.position_side)
        return self.reduce_only or self.close_position or self.side is closing


def parse_new_order(params: Mapping[str, str], symbol: str, *, dual: bool) -> NewOrder:
    """Symbol, side/type/tif, mandatory params, position mode, client id: in Aster's order."""
    check_symbol(params, symbol)
    side = choice(params, "side", ("BUY", "SELL"), AsterError(-1117, "Invalid side."))
    kind = params.get("type")
    if not kind:
        raise mandatory("type")
    if kind not in SERVED_TYPES:
        served = ", ".join(SERVED_TYPES)
        unsupported = f" (the simulator serves {served})" if kind in ALL_ORDER_TYPES else ""
        raise AsterError(-1116, f"Invalid orderType.{unsupported}")
    tif = params.get("timeInForce")
    if tif is not None and tif not in TIME_IN_FORCE:
        raise AsterError(-1115, "Invalid timeInForce.")
    if kind == "LIMIT" and tif is None:
        raise mandatory("timeInForce")
    conditional = kind in CONDITIONAL_TYPES
    close_position = flag(params, "closePosition")
    if close_position and not conditional:
        raise not_required("closePosition")
    if close_position and "quantity" in params:
        raise not_required("quantity")
    qty = ZERO if close_position else decimal_param(params, "quantity")
    price = decimal_param(params, "price") if kind == "LIMIT" else None
    reduce_only = flag(params, "reduceOnly")
    if close_position and "reduceOnly" in params:
        raise not_required("reduceOnly")
    trigger, stop_price = None, None
    if conditional:
        stop_price = decimal_param(params, "stopPrice")
        working_type = params.get("workingType", "CONTRACT_PRICE")
        if working_type not in WORKING_TYPES:
            raise bad_value("workingType")
        trigger = TriggerTerms(
            source=WORKING_TYPES[working_type],
            take_profit=kind == "TAKE_PROFIT_MARKET",
            position_share=Decimal(1) if close_position else None,
        )
    price_protect = flag(params, "priceProtect")
    position_side = params.get("positionSide", "BOTH").upper()
    if position_side not in POSITION_SIDES:
        raise bad_value("positionSide")
    if (position_side != "BOTH") != dual:
        raise AsterError(-4061, "Order's position side does not match user's setting.")
    if dual and "reduceOnly" in params:
        # Binance's answer; Aster's (-1106 or -4062) is UNCONFIRMED.
        raise not_required("reduceOnly")
    client_id = params.get("newClientOrderId")
    if client_id is not None and not CLIENT_ORDER_ID.fullmatch(client_id):
        raise AsterError(-4015, "Client order id is not valid.")
    response_type = params.get("newOrderRespType", "ACK")
    if response_type not in RESPONSE_TYPES:
        raise bad_value("newOrderRespType")
    return NewOrder(
        symbol=symbol,
        side=Side(side),
        type=OrderType.STOP_MARKET if conditional else OrderType(kind),
        qty=qty,
        price=price,
        time_in_force=tif or "GTC",
        reduce_only=reduce_only,
        position_side=position_side,
        client_id=client_id,
        response_type=response_type,
        stop_price=stop_price,
        trigger=trigger,
        price_protect=price_protect,
    )


def place(state: AsterState, account: str, new: NewOrder, partial: Decimal | None) -> SimOrder:
    """The checks that need state, in Aster's order, then the core (which rechecks)."""
    client_id = new.client_id or _new_client_id(state, account)
    if state.find(account, client_id=client_id) is not None:
        raise AsterError(-4116, "ClientOrderId is duplicated.")  # Binance's code, UNCONFIRMED
    check_filters(new, state.filters, state.mark())
    resting = state.open_orders(account)
    if len(resting) >= state.filters.max_num_orders:
        raise AsterError(-2025, "Reach max open order limit.")
    waiting = sum(1 for order in resting if order.waiting)
    if new.trigger is not None and waiting >= state.filters.max_num_algo_orders:
        raise AsterError(-4045, "Reach max stop order limit.")  # MAX_NUM_ALGO_ORDERS; Binance's
    core = core_account(account, new.position_side)
    if new.reduces:
        if state.exchange.position(core, state.symbol).reducible(new.side) == 0:
            raise reduce_only_rejected()
    elif (
        new.qty * (new.price or new.stop_price or state.mark()) / state.settings(account).leverage
        > state.wallet(account).available
    ):
        raise margin_insufficient()
    request = OrderRequest(
        client_id=client_id,
        symbol=state.symbol,
        side=new.side,
        type=new.type,
        qty=new.qty,
        price=new.price,
        reduce_only=new.reduces,
        post_only=new.time_in_force == "GTX",
        trigger_price=new.stop_price,
    )
    state.pending_tif = new.time_in_force
    try:
        order = state.exchange.place(
            core, request, max_fill=_fill_cap(state, new, partial), trigger=new.trigger
        )
    except OrderRefused as refused:
        raise from_refusal(refused) from None
    finally:
        state.pending_tif = "GTC"
    if new.price_protect:
        state.price_protected.add(order.order_id)
    if order.is_open and new.time_in_force in ("IOC", "FOK"):
        order = state.expire(order)
    state.expire_orphans([core])
    return state.latest(order)


def cancel(
    state: AsterState, account: str, *, order_id: str | None = None, client_id: str | None = None
) -> SimOrder:
    order = state.find(account, order_id=order_id, client_id=client_id)
    if order is None or not order.is_open:
        raise unknown_order_sent()
    return state.exchange.cancel(order.account, state.symbol, order_id=order.order_id)


def cancel_all(state: AsterState, account: str) -> list[SimOrder]:
    return [
        state.exchange.cancel(o.account, state.symbol, order_id=o.order_id)
        for o in state.open_orders(account)
    ]


def _fill_cap(state: AsterState, new: NewOrder, partial: Decimal | None) -> Decimal | None:
    cap = None if partial is None else floor_to(new.qty * partial, state.market.step)
    if new.time_in_force != "FOK" or new.type is OrderType.MARKET:
        return cap
    fills_all = new.fills_at_once(new.qty, state.book(), cap, state.market.depth_qty)
    return None if fills_all else ZERO  # FOK: all of it or nothing


def _new_client_id(state: AsterState, account: str) -> str:
    while True:
        client_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))
        if state.find(account, client_id=client_id) is None:
            return client_id
