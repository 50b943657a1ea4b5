"""A new Aster order as the venue reads it: the state-free checks of `POST /order`, in the
venue's order. Order types and their parameters grow here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from hedged.model import OrderType, Side
from hedged.sim.aster.errors import AsterError, bad_value, mandatory
from hedged.sim.aster.params import check_symbol, choice, decimal_param, flag

TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "HIDDEN")  # HIDDEN rests like GTC here
ALL_ORDER_TYPES = frozenset(
    {"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
     "TRAILING_STOP_MARKET"}
)  # fmt: skip
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
RESPONSE_TYPES = ("ACK", "RESULT")
CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")  # the rule for newClientOrderId


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A parsed `POST /order`. `reduce_only` is the flag as sent (one-way mode only)."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    time_in_force: str
    reduce_only: bool
    position_side: str
    client_id: str | None
    response_type: str

    @property
    def reduces(self) -> bool:
        """Reduce-only, or closing a hedge-mode side (a BUY on SHORT, a SELL on LONG)."""
        closing = {"LONG": Side.SELL, "SHORT": Side.BUY}.get(self.position_side)
        return self.reduce_only or self.side is closing


def parse_new_order(params: Mapping[str, str], symbol: str, *, dual: bool) -> NewOrder:
    """Symbol, side/type/tif, mandatory params, position mode, client id: in Aster's order."""
    check_symbol(params, symbol)
    side = choice(params, "side", ("BUY", "SELL"), AsterError(-1117, "Invalid side."))
    kind = params.get("type")
    if not kind:
        raise mandatory("type")
    if kind not in ("LIMIT", "MARKET"):
        unsupported = " (the simulator serves LIMIT and MARKET)" if kind in ALL_ORDER_TYPES else ""
        raise AsterError(-1116, f"Invalid orderType.{unsupported}")
    tif = params.get("timeInForce")
    if tif is not None and tif not in TIME_IN_FORCE:
        raise AsterError(-1115, "Invalid timeInForce.")
    if kind == "LIMIT" and tif is None:
        raise mandatory("timeInForce")
    qty = decimal_param(params, "quantity")
    price = decimal_param(params, "price") if kind == "LIMIT" else None
    reduce_only = flag(params, "reduceOnly")
    position_side = params.get("positionSide", "BOTH").upper()
    if position_side not in POSITION_SIDES:
        raise bad_value("positionSide")
    if (position_side != "BOTH") != dual:
        raise AsterError(-4061, "Order's position side does not match user's setting.")
    if dual and "reduceOnly" in params:
        # Binance's answer; Aster's (-1106 or -4062) is UNCONFIRMED.
        raise AsterError(-1106, "Parameter 'reduceOnly' sent when not required.")
    client_id = params.get("newClientOrderId")
    if client_id is not None and not CLIENT_ORDER_ID.fullmatch(client_id):
        raise AsterError(-4015, "Client order id is not valid.")
    response_type = params.get("newOrderRespType", "ACK")
    if response_type not in RESPONSE_TYPES:
        raise bad_value("newOrderRespType")
    return NewOrder(
        symbol=symbol,
        side=Side(side),
        type=OrderType(kind),
        qty=qty,
        price=price,
        time_in_force=tif or "GTC",
        reduce_only=reduce_only,
        position_side=position_side,
        client_id=client_id,
        response_type=response_type,
    )
