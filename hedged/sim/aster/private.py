"""Aster's order and account endpoints (signed, or keyed for the user stream)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hedged.sim.aster import orders
from hedged.sim.aster.call import Call, Reply
from hedged.sim.aster.errors import AsterError, bad_value, mandatory, no_such_order
from hedged.sim.aster.limits import ORDER_COUNT_HEADER
from hedged.sim.aster.params import check_symbol, int_param
from hedged.sim.aster.shapes import (
    balance_json,
    chain_data,
    ms,
    num,
    order_json,
    position_json,
    trade_json,
)
from hedged.sim.aster.state import split_core
from hedged.sim.records import SimOrder

SUCCESS = {"code": 200, "msg": "success"}
T = TypeVar("T")


def new_order(call: Call) -> Reply:
    state, account = call.state, call.account
    order = orders.parse_new_order(call.params, state.symbol, dual=state.settings(account).dual)
    call.limits.admit_order(account)
    placed = orders.place(state, account, order, call.partial)
    count = call.limits.count_order(account)
    body = order_json(state.view(placed), ack=order.response_type == "ACK")
    if call.v3:
        body["newChainData"] = chain_data(placed)
    return Reply(body, {ORDER_COUNT_HEADER: str(count)})


def query_order(call: Call) -> Reply:
    order = _find(call)
    if order is None:
        raise no_such_order()
    return Reply(order_json(call.state.view(order), with_time=True))


def cancel_order(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    order = orders.cancel(call.state, call.account, **_order_ref(call.params))
    return Reply(order_json(call.state.view(order)))


def open_order(call: Call) -> Reply:
    order = _find(call)
    if order is None or not order.is_open:
        raise no_such_order()
    return Reply(order_json(call.state.view(order), with_time=True))


def open_orders(call: Call) -> Reply:
    if "symbol" in call.params:
        check_symbol(call.params, call.state.symbol)
    resting = call.state.open_orders(call.account)
    return Reply([order_json(call.state.view(o), with_time=True) for o in resting])


def cancel_all(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    orders.cancel_all(call.state, call.account)
    return Reply({"code": "200", "msg": "The operation of cancel all open order is done."})


def all_orders(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    chosen = _in_time(call.params, call.state.orders(call.account), lambda o: o.created_at)
    views = [order_json(call.state.view(o), with_time=True) for o in chosen]
    return Reply(_page(call.params, views, "orderId", "orderId"))


def user_trades(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    fills = _in_time(call.params, call.state.fills(call.account), lambda f: f.at)
    rows = [trade_json(f, split_core(f.account)[1]) for f in fills]
    return Reply(_page(call.params, rows, "fromId", "id"))


# Account


def position_risk(call: Call) -> Reply:
    state = call.state
    if "symbol" in call.params:
        check_symbol(call.params, state.symbol)
    cap = state.max_notional(call.account)
    return Reply([position_json(row, cap) for row in state.position_rows(call.account)])


def balance(call: Call) -> Reply:
    alias = hashlib.sha256(call.account.encode()).hexdigest()[:8]
    return Reply([balance_json(alias, call.state.wallet(call.account), call.state.clock())])


def leverage(call: Call) -> Reply:
    state = call.state
    symbol = check_symbol(call.params, state.symbol)
    state.set_leverage(call.account, int_param(call.params, "leverage"))
    settings = state.settings(call.account)
    max_notional = num(state.max_notional(call.account))
    return Reply(
        {"leverage": settings.leverage, "maxNotionalValue": max_notional, "symbol": symbol}
    )


def margin_type(call: Call) -> Reply:
    check_symbol(call.params, call.state.symbol)
    kind = call.params.get("marginType")
    if not kind:
        raise mandatory("marginType")
    call.state.set_margin_type(call.account, kind.upper())
    return Reply(SUCCESS)


def get_position_mode(call: Call) -> Reply:
    return Reply({"dualSidePosition": call.state.settings(call.account).dual})


def set_position_mode(call: Call) -> Reply:
    value = call.params.get("dualSidePosition", "").lower()
    if value not in ("true", "false"):
        raise mandatory("dualSidePosition")
    call.state.set_dual(call.account, value == "true")
    return Reply(SUCCESS)


def new_listen_key(call: Call) -> Reply:
    return Reply({"listenKey": call.state.open_listen_key(call.account)})


def keep_listen_key(call: Call) -> Reply:
    call.state.keep_alive(call.account, call.params.get("listenKey"))
    return Reply({})


def close_listen_key(call: Call) -> Reply:
    call.state.close_listen_key(call.account, call.params.get("listenKey"))
    return Reply({})


def _find(call: Call) -> SimOrder | None:
    check_symbol(call.params, call.state.symbol)
    return call.state.find(call.account, **_order_ref(call.params))


def _order_ref(params: Mapping[str, str]) -> dict[str, str]:
    """orderId wins over origClientOrderId when both are sent."""
    if params.get("orderId"):
        if not params["orderId"].isdigit():
            raise mandatory("orderId")
        return {"order_id": params["orderId"]}
    if params.get("origClientOrderId"):
        return {"client_id": params["origClientOrderId"]}
    raise AsterError(
        -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
    )


def _in_time(params: Mapping[str, str], items: list[T], at: Callable[[T], float]) -> list[T]:
    start = int_param(params, "startTime", 0)
    end = int_param(params, "endTime", 2**62)
    return [item for item in items if start <= ms(at(item)) <= end]


def _page(
    params: Mapping[str, str], rows: list[dict[str, Any]], from_param: str, id_field: str
) -> list[dict[str, Any]]:
    """From `from_param` on, the first `limit` rows; without it, the last `limit` rows."""
    limit = int_param(params, "limit", 500)
    if not 1 <= limit <= 1000:
        raise bad_value("limit")
    if from_param in params:
        first = int_param(params, from_param)
        return [row for row in rows if row[id_field] >= first][:limit]
    return rows[-limit:]
