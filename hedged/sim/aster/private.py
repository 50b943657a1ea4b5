"""Aster's order and account endpoints (signed, or keyed for the user stream)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from hedged.model import ZERO
from hedged.sim.aster import orders
from hedged.sim.aster.call import Call, Reply
from hedged.sim.aster.errors import AsterError, bad_value, mandatory, no_such_order
from hedged.sim.aster.limits import ORDER_COUNT_HEADER
from hedged.sim.aster.params import check_symbol, int_param
from hedged.sim.aster.shapes import (
    ASSET,
    balance_json,
    chain_data,
    ms,
    num,
    order_json,
    position_json,
    trade_json,
)
from hedged.sim.aster.state import MAX_LEVERAGE, AsterState, split_core
from hedged.sim.records import SimOrder

SUCCESS = {"code": 200, "msg": "success"}
MAINT_SHARE = Decimal("0.5")  # maintenance margin as a share of the initial
FUNDING_TRAN = 10**12  # funding transaction ids, apart from the fills' ones
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
    resting = call.state.open_orders(call.account, every_symbol="symbol" not in call.params)
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


def account(call: Call) -> Reply:
    """`/fapi/v2|v3|v4/account`: the wallet, the USDT asset and the position rows."""
    state, account = call.state, call.account
    wallet, now = state.wallet(account), state.clock()
    rows = state.position_rows(account)
    margin = (
        sum((abs(r.position.qty) * r.mark for r in rows), ZERO) / state.settings(account).leverage
    )
    equity = wallet.balance + wallet.unrealized
    totals = {
        "totalInitialMargin": num(margin),
        "totalMaintMargin": num(margin * MAINT_SHARE),
        "totalWalletBalance": num(wallet.balance),
        "totalUnrealizedProfit": num(wallet.unrealized),
        "totalMarginBalance": num(equity),
        "totalPositionInitialMargin": num(margin),
        "totalOpenOrderInitialMargin": num(max(ZERO, equity - margin - wallet.available)),
        "totalCrossWalletBalance": num(wallet.balance),
        "totalCrossUnPnl": num(wallet.unrealized),
        "availableBalance": num(wallet.available),
        "maxWithdrawAmount": num(max(ZERO, min(wallet.balance, wallet.available))),
    }
    asset = {
        "asset": ASSET,
        "walletBalance": totals["totalWalletBalance"],
        "unrealizedProfit": totals["totalUnrealizedProfit"],
        "marginBalance": totals["totalMarginBalance"],
        "maintMargin": totals["totalMaintMargin"],
        "initialMargin": totals["totalInitialMargin"],
        "positionInitialMargin": totals["totalPositionInitialMargin"],
        "openOrderInitialMargin": totals["totalOpenOrderInitialMargin"],
        "crossWalletBalance": totals["totalWalletBalance"],
        "crossUnPnl": totals["totalUnrealizedProfit"],
        "availableBalance": totals["availableBalance"],
        "maxWithdrawAmount": totals["maxWithdrawAmount"],
        "marginAvailable": True,
        "updateTime": ms(now),
    }
    cap = state.max_notional(account)
    positions = [
        position_json(row, cap)
        | {"initialMargin": num(abs(row.position.qty) * row.mark / row.leverage)}
        for row in rows
    ]
    body = {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True}
    return Reply(body | totals | {"updateTime": ms(now), "assets": [asset], "positions": positions})


def leverage_bracket(call: Call) -> Reply:
    """One bracket: the simulator's flat notional cap at the account's leverage."""
    state = call.state
    settings = state.settings(call.account)
    row = {
        "symbol": state.symbol,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": MAX_LEVERAGE,
                "notionalCap": int(state.max_notional(call.account) * settings.leverage),
                "notionalFloor": 0,
                "maintMarginRatio": float(MAINT_SHARE / MAX_LEVERAGE),
                "cum": 0.0,
            }
        ],
    }
    if "symbol" in call.params:
        check_symbol(call.params, state.symbol)
        return Reply(row)
    return Reply([row])


def commission_rate(call: Call) -> Reply:
    state = call.state
    symbol = check_symbol(call.params, state.symbol)
    return Reply(
        {
            "symbol": symbol,
            "makerCommissionRate": num(state.market.maker_fee),
            "takerCommissionRate": num(state.market.taker_fee),
        }
    )


INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION")


def income(call: Call) -> Reply:
    """Realized PnL and commission of each fill, and funding payments, oldest first; from
    `startTime` the first `limit`, else the last."""
    state, params = call.state, call.params
    if "symbol" in params:
        check_symbol(params, state.symbol)
    kind = params.get("incomeType")
    if kind is not None and kind not in INCOME_TYPES:
        raise bad_value("incomeType")
    limit = int_param(params, "limit", 100)
    if not 1 <= limit <= 1000:
        raise bad_value("limit")
    rows = sorted(income_rows(state, call.account), key=lambda row: (row["time"], row["tranId"]))
    rows = [row for row in rows if kind in (None, row["incomeType"])]
    start = int_param(params, "startTime", 0)
    end = int_param(params, "endTime", 2**62)
    rows = [row for row in rows if start <= row["time"] <= end]
    return Reply(rows[:limit] if "startTime" in params else rows[-limit:])


def income_rows(state: AsterState, account: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def row(kind: str, amount: Decimal, at: float, tran_id: int, trade_id: str) -> None:
        rows.append(
            {
                "symbol": state.symbol,
                "incomeType": kind,
                "income": num(amount),
                "asset": ASSET,
                "info": kind,
                "time": ms(at),
                "tranId": tran_id,
                "tradeId": trade_id,
            }
        )

    for fill in state.fills(account):
        tran = int(fill.trade_id) * 2  # two income rows per fill, each its own transaction
        if fill.realized_pnl:
            row("REALIZED_PNL", fill.realized_pnl, fill.at, tran, fill.trade_id)
        row("COMMISSION", -fill.fee, fill.at, tran + 1, fill.trade_id)
    for core in state.cores(account):
        for payment in state.exchange.funding_payments(core, state.symbol):
            row("FUNDING_FEE", payment.amount, payment.at, FUNDING_TRAN + payment.payment_id, "")
    return rows


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
