import json
from dataclasses import replace
from decimal import Decimal

import pytest

from hedged.model import OrderRequest, OrderStatus, OrderType, Side
from hedged.sim.exchange import SimExchange
from hedged.sim.records import (
    Firing,
    MarketSpec,
    OrderRefused,
    PriceSource,
    RejectCode,
    SimFill,
    SimOrder,
    TriggerTerms,
)

SYMBOL = "SOLUSDT"
ALICE = "alice"
D = Decimal


def make_exchange(depth_qty: Decimal | None = None, fee_places: int | None = None) -> SimExchange:
    market = MarketSpec(
        symbol=SYMBOL,
        tick=D("0.01"),
        step=D("0.01"),
        min_qty=D("0.01"),
        min_notional=D(5),
        max_qty=D(1000),
        taker_fee=D("0.0005"),
        maker_fee=D("0.0002"),
        depth_qty=depth_qty,
        fee_places=fee_places,
    )
    exchange = SimExchange("aster", {SYMBOL: market}, clock=lambda: 1000.0)
    exchange.deposit(ALICE, D(1000))
    exchange.set_book(SYMBOL, D("100.00"), D("100.10"))
    return exchange


def market(client_id: str, side: Side, qty: str, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(client_id, SYMBOL, side, OrderType.MARKET, D(qty), reduce_only=reduce_only)


def limit(
    client_id: str,
    side: Side,
    qty: str,
    price: str,
    *,
    reduce_only: bool = False,
    post_only: bool = False,
) -> OrderRequest:
    return OrderRequest(
        client_id, SYMBOL, side, OrderType.LIMIT, D(qty), D(price), reduce_only, post_only
    )


def refusal(exchange: SimExchange, request: OrderRequest) -> OrderRefused:
    with pytest.raises(OrderRefused) as caught:
        exchange.place(ALICE, request)
    return caught.value


def test_market_buy_fills_at_the_ask_with_the_taker_fee() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, market("a1", Side.BUY, "2"))
    assert order.status is OrderStatus.FILLED
    assert (order.filled_qty, order.avg_price, order.order_id) == (D(2), D("100.10"), "1")
    [fill] = exchange.fills(ALICE, SYMBOL, client_id="a1")
    assert (fill.price, fill.qty, fill.maker, fill.trade_id) == (D("100.10"), D(2), False, "1")
    assert fill.fee == D("0.1001")  # 2 x 100.10 x 0.0005
    assert exchange.balance(ALICE) == D("999.8999")
    position = exchange.position(ALICE, SYMBOL)
    assert (position.qty, position.entry_price) == (D(2), D("100.10"))


def test_market_sell_fills_at_the_bid() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, market("a1", Side.SELL, "1"))
    assert order.avg_price == D("100.00")
    assert exchange.position(ALICE, SYMBOL).qty == D(-1)


def test_limit_rests_then_fills_at_its_price_with_the_maker_fee() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, limit("tp", Side.BUY, "1", "99.50"))
    assert order.status is OrderStatus.NEW
    assert exchange.open_orders(ALICE, SYMBOL) == [order]
    exchange.set_book(SYMBOL, D("99.51"), D("99.60"))
    assert exchange.fills(ALICE, SYMBOL, client_id="tp") == []
    exchange.set_book(SYMBOL, D("99.00"), D("99.40"))  # the ask crosses the limit
    filled = exchange.order(ALICE, SYMBOL, client_id="tp")
    assert filled is not None and filled.status is OrderStatus.FILLED
    [fill] = exchange.fills(ALICE, SYMBOL, client_id="tp")
    assert (fill.price, fill.maker, fill.fee) == (D("99.50"), True, D("0.019900"))
    assert exchange.open_orders(ALICE, SYMBOL) == []
    assert exchange.position(ALICE, SYMBOL).entry_price == D("99.50")


def test_sell_limit_fills_when_the_bid_reaches_it() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, limit("s", Side.SELL, "1", "101.00"))
    exchange.set_book(SYMBOL, D("100.99"), D("101.20"))
    assert exchange.position(ALICE, SYMBOL).qty == 0
    exchange.set_book(SYMBOL, D("101.00"), D("101.20"))
    assert exchange.position(ALICE, SYMBOL).qty == D(-1)


def test_marketable_limit_takes_at_the_touch() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, limit("x", Side.BUY, "1", "101.00"))
    assert (order.status, order.avg_price) == (OrderStatus.FILLED, D("100.10"))
    [fill] = exchange.fills(ALICE, SYMBOL, client_id="x")
    assert not fill.maker


def test_post_only_that_would_cross_is_refused() -> None:
    exchange = make_exchange()
    refused = refusal(exchange, limit("p", Side.BUY, "1", "100.10", post_only=True))
    assert refused.code is RejectCode.POST_ONLY_CROSS
    assert exchange.order(ALICE, SYMBOL, client_id="p") is None
    resting = exchange.place(ALICE, limit("q", Side.BUY, "1", "100.09", post_only=True))
    assert resting.status is OrderStatus.NEW


def test_reduce_only_without_a_position_or_in_its_direction_is_refused() -> None:
    exchange = make_exchange()
    assert refusal(exchange, market("r1", Side.SELL, "1", True)).code is RejectCode.REDUCE_ONLY
    exchange.place(ALICE, market("open", Side.BUY, "1"))
    assert refusal(exchange, market("r2", Side.BUY, "1", True)).code is RejectCode.REDUCE_ONLY
    limit_refusal = refusal(exchange, limit("r3", Side.BUY, "1", "90.00", reduce_only=True))
    assert limit_refusal.code is RejectCode.REDUCE_ONLY


def test_reduce_only_larger_than_the_position_is_trimmed_to_it() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("open", Side.SELL, "2"))
    closing = exchange.place(ALICE, market("close", Side.BUY, "5", True))
    assert (closing.qty, closing.filled_qty, closing.status) == (D(2), D(2), OrderStatus.FILLED)
    assert exchange.position(ALICE, SYMBOL).qty == 0


def test_reduce_only_is_exempt_from_the_minimum_notional() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("open", Side.BUY, "1"))
    dust = exchange.place(ALICE, market("dust", Side.SELL, "0.01", True))
    assert dust.status is OrderStatus.FILLED


def test_resting_reduce_only_never_flips_a_position_that_shrank() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("open", Side.BUY, "2"))
    exchange.place(ALICE, limit("tp", Side.SELL, "2", "101.00", reduce_only=True))
    exchange.place(ALICE, market("stop", Side.SELL, "1.5", True))
    exchange.set_book(SYMBOL, D("101.00"), D("101.10"))
    take_profit = exchange.order(ALICE, SYMBOL, client_id="tp")
    assert take_profit is not None
    assert (take_profit.filled_qty, take_profit.status) == (D("0.5"), OrderStatus.EXPIRED)
    assert exchange.position(ALICE, SYMBOL).qty == 0


REFUSALS = [
    (OrderRequest("c", "BTCUSDT", Side.BUY, OrderType.MARKET, D(1)), RejectCode.UNKNOWN_SYMBOL),
    (market("c", Side.BUY, "0.015"), RejectCode.BAD_STEP),
    (market("c", Side.BUY, "0"), RejectCode.MIN_QTY),
    (market("c", Side.BUY, "1000.01"), RejectCode.MAX_QTY),
    (limit("c", Side.BUY, "1", "99.995"), RejectCode.BAD_TICK),
    (limit("c", Side.BUY, "1", "0"), RejectCode.BAD_PRICE),
    (market("c", Side.BUY, "0.04"), RejectCode.MIN_NOTIONAL),
    (limit("c", Side.BUY, "0.05", "99.00"), RejectCode.MIN_NOTIONAL),
    # Several faults at once: the first check in venue order wins.
    (limit("c", Side.BUY, "0.015", "99.995", post_only=True), RejectCode.BAD_STEP),
    (limit("c", Side.BUY, "0.01", "99.995"), RejectCode.BAD_TICK),
    (limit("c", Side.BUY, "0.01", "100.20", post_only=True), RejectCode.MIN_NOTIONAL),
    (
        limit("c", Side.SELL, "1", "99.00", post_only=True, reduce_only=True),
        RejectCode.POST_ONLY_CROSS,
    ),
]


@pytest.mark.parametrize(("request_", "code"), REFUSALS)
def test_refusals_follow_the_venue_order(request_: OrderRequest, code: RejectCode) -> None:
    exchange = make_exchange()
    refused = refusal(exchange, request_)
    assert refused.code is code
    assert refused.message
    assert exchange.order(ALICE, request_.symbol, client_id="c") is None
    assert exchange.balance(ALICE) == D(1000)


def test_min_notional_refusal_names_the_notional() -> None:
    refused = refusal(make_exchange(), market("c", Side.BUY, "0.04"))
    assert refused.code is RejectCode.MIN_NOTIONAL
    assert "4.0040" in refused.message and "5" in refused.message


def test_market_order_without_a_book_is_refused() -> None:
    exchange = SimExchange("aster", make_exchange().markets)
    assert refusal(exchange, market("c", Side.BUY, "1")).code is RejectCode.NO_BOOK


def test_duplicate_client_id_is_refused_and_the_first_order_untouched() -> None:
    exchange = make_exchange()
    first = exchange.place(ALICE, market("dup", Side.BUY, "1"))
    assert refusal(exchange, market("dup", Side.BUY, "1")).code is RejectCode.DUPLICATE_CLIENT_ID
    resting = exchange.place(ALICE, limit("dup2", Side.BUY, "1", "90.00"))
    refused = refusal(exchange, limit("dup2", Side.BUY, "1", "90.00"))
    assert refused.code is RejectCode.DUPLICATE_CLIENT_ID
    assert exchange.order(ALICE, SYMBOL, client_id="dup") == first
    assert exchange.open_orders(ALICE) == [resting]
    assert exchange.position(ALICE, SYMBOL).qty == D(1)
    # Client ids are per account.
    assert exchange.place("bob", market("dup", Side.BUY, "1")).status is OrderStatus.FILLED


def test_entry_price_averages_on_adds_and_holds_on_reduces() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("1", Side.BUY, "1"))  # 1 @ 100.10
    exchange.set_book(SYMBOL, D("101.90"), D("102.10"))
    exchange.place(ALICE, market("2", Side.BUY, "3"))  # 3 @ 102.10
    position = exchange.position(ALICE, SYMBOL)
    assert (position.qty, position.entry_price) == (D(4), D("101.60"))
    exchange.place(ALICE, market("3", Side.SELL, "1"))
    assert exchange.position(ALICE, SYMBOL).entry_price == D("101.60")
    exchange.place(ALICE, market("4", Side.SELL, "5"))  # flips: 2 short at the bid
    position = exchange.position(ALICE, SYMBOL)
    assert (position.qty, position.entry_price) == (D(-2), D("101.90"))
    exchange.place(ALICE, market("5", Side.BUY, "2"))
    position = exchange.position(ALICE, SYMBOL)
    assert (position.qty, position.entry_price) == (D(0), None)


def test_realized_pnl_and_fees_are_exact() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("open", Side.SELL, "3"))  # short 3 @ 100.00, fee 0.15
    exchange.set_book(SYMBOL, D("98.00"), D("98.01"))
    exchange.place(ALICE, market("half", Side.BUY, "1"))  # +1.99, fee 0.049005
    exchange.place(ALICE, limit("tp", Side.BUY, "2", "97.50", reduce_only=True))
    exchange.set_book(SYMBOL, D("97.40"), D("97.45"))  # maker: +5.00, fee 0.039
    [half] = exchange.fills(ALICE, SYMBOL, client_id="half")
    [tp] = exchange.fills(ALICE, SYMBOL, client_id="tp")
    assert (half.realized_pnl, half.fee) == (D("1.99"), D("0.049005"))
    assert (tp.realized_pnl, tp.fee, tp.maker) == (D("5.00"), D("0.039"), True)
    position = exchange.position(ALICE, SYMBOL)
    assert (position.qty, position.realized_pnl) == (D(0), D("6.99"))
    assert exchange.balance(ALICE) == D(1000) + D("6.99") - D("0.15") - D("0.049005") - D("0.039")
    assert exchange.balance(ALICE) == D("1006.751995")


def test_a_fee_is_charged_to_the_digits_the_venue_reports() -> None:
    exchange = make_exchange(fee_places=8)
    exchange.markets[SYMBOL] = replace(exchange.markets[SYMBOL], taker_fee=D("0.00035"))
    exchange.set_book(SYMBOL, D("100.00"), D("100.07"))
    exchange.place(ALICE, market("a1", Side.BUY, "0.13"))  # 0.13 x 100.07 x 0.00035
    [fill] = exchange.fills(ALICE, SYMBOL, client_id="a1")
    assert D("0.13") * D("100.07") * D("0.00035") == D("0.004553185")
    assert fill.fee == D("0.00455318")
    assert exchange.balance(ALICE) == D(1000) - D("0.00455318")


def test_depth_limits_a_market_order_and_the_rest_expires() -> None:
    exchange = make_exchange(depth_qty=D("0.5"))
    order = exchange.place(ALICE, market("m", Side.BUY, "2"))
    assert (order.status, order.filled_qty, order.qty) == (OrderStatus.EXPIRED, D("0.5"), D(2))
    assert exchange.position(ALICE, SYMBOL).qty == D("0.5")
    assert exchange.open_orders(ALICE) == []


def test_depth_limits_a_crossing_limit_and_the_rest_rests() -> None:
    exchange = make_exchange(depth_qty=D("0.5"))
    order = exchange.place(ALICE, limit("l", Side.BUY, "2", "100.10"))
    assert (order.status, order.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.5"))
    assert exchange.open_orders(ALICE) == [order]


def test_max_fill_caps_one_order() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, market("m", Side.BUY, "2"), max_fill=D("0.7"))
    assert (order.status, order.filled_qty) == (OrderStatus.EXPIRED, D("0.7"))


def test_cancel_by_client_id_or_order_id() -> None:
    exchange = make_exchange()
    first = exchange.place(ALICE, limit("l1", Side.BUY, "1", "90.00"))
    exchange.place(ALICE, limit("l2", Side.BUY, "1", "90.00"))
    assert exchange.cancel(ALICE, SYMBOL, client_id="l2").status is OrderStatus.CANCELED
    assert exchange.cancel(ALICE, SYMBOL, order_id=first.order_id).status is OrderStatus.CANCELED
    assert exchange.open_orders(ALICE, SYMBOL) == []
    exchange.set_book(SYMBOL, D("89.00"), D("89.50"))
    assert exchange.position(ALICE, SYMBOL).qty == 0


def test_cancel_refusals() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("m", Side.BUY, "1"))
    exchange.place(ALICE, limit("l", Side.BUY, "1", "90.00"))
    with pytest.raises(OrderRefused) as unknown:
        exchange.cancel(ALICE, SYMBOL, client_id="nope")
    assert unknown.value.code is RejectCode.UNKNOWN_ORDER
    with pytest.raises(OrderRefused) as closed:
        exchange.cancel(ALICE, SYMBOL, client_id="m")
    assert closed.value.code is RejectCode.ORDER_CLOSED
    with pytest.raises(OrderRefused) as foreign:
        exchange.cancel("bob", SYMBOL, client_id="l")
    assert foreign.value.code is RejectCode.UNKNOWN_ORDER


def test_lookups_need_the_right_account_symbol_and_exactly_one_id() -> None:
    exchange = make_exchange()
    order = exchange.place(ALICE, limit("l", Side.BUY, "1", "90.00"))
    assert exchange.order(ALICE, SYMBOL, order_id=order.order_id) == order
    assert exchange.order(ALICE, "ETHUSDT", client_id="l") is None
    assert exchange.order("bob", SYMBOL, order_id=order.order_id) is None
    assert exchange.fills(ALICE, SYMBOL, client_id="none") == []
    with pytest.raises(TypeError):
        exchange.order(ALICE, SYMBOL)
    with pytest.raises(TypeError):
        exchange.order(ALICE, SYMBOL, client_id="l", order_id=order.order_id)


def test_set_book_refuses_a_crossed_book_and_unknown_symbols() -> None:
    exchange = make_exchange()
    with pytest.raises(ValueError):
        exchange.set_book(SYMBOL, D(100), D(100))
    with pytest.raises(KeyError):
        exchange.set_book("BTCUSDT", D(1), D(2))


def test_listeners_see_every_order_change() -> None:
    exchange = make_exchange(depth_qty=D(1))
    events: list[tuple[SimOrder, SimFill | None]] = []
    exchange.add_listener(lambda order, fill: events.append((order, fill)))
    exchange.place(ALICE, market("m", Side.BUY, "2"))
    assert [(order.status, fill is not None) for order, fill in events] == [
        (OrderStatus.NEW, False),
        (OrderStatus.PARTIALLY_FILLED, True),
        (OrderStatus.EXPIRED, False),
    ]


def test_state_round_trips_through_json_and_trading_continues() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("open", Side.SELL, "2"))
    exchange.place(ALICE, limit("tp", Side.BUY, "2", "99.00", reduce_only=True))
    exchange.place(ALICE, limit("gone", Side.BUY, "1", "90.00"))
    exchange.cancel(ALICE, SYMBOL, client_id="gone")
    exchange.place("bob", limit("bid", Side.BUY, "1", "95.00", post_only=True))

    saved = json.loads(json.dumps(exchange.to_dict()))
    restored = SimExchange.from_dict(saved, clock=lambda: 2000.0)

    assert restored.to_dict() == exchange.to_dict()
    assert restored.balance(ALICE) == exchange.balance(ALICE)
    assert restored.position(ALICE, SYMBOL) == exchange.position(ALICE, SYMBOL)
    assert restored.open_orders(ALICE) == exchange.open_orders(ALICE)
    assert restored.fills(ALICE, SYMBOL, client_id="open") == exchange.fills(
        ALICE, SYMBOL, client_id="open"
    )
    assert restored.book(SYMBOL) == exchange.book(SYMBOL)
    # Client ids stay taken, ids keep counting, resting orders keep resting.
    assert refusal(restored, market("gone", Side.BUY, "1")).code is RejectCode.DUPLICATE_CLIENT_ID
    assert restored.place(ALICE, market("more", Side.SELL, "1")).order_id == "5"
    restored.set_book(SYMBOL, D("98.90"), D("99.00"))
    take_profit = restored.order(ALICE, SYMBOL, client_id="tp")
    assert take_profit is not None and take_profit.status is OrderStatus.FILLED
    [fill] = restored.fills(ALICE, SYMBOL, client_id="tp")
    assert (fill.trade_id, fill.at) == ("3", 2000.0)
    assert restored.position(ALICE, SYMBOL).qty == D(-1)


def stop(client_id: str, side: Side, qty: str, trigger: str) -> OrderRequest:
    return OrderRequest(
        client_id,
        SYMBOL,
        side,
        OrderType.STOP_MARKET,
        D(qty),
        reduce_only=True,
        trigger_price=D(trigger),
    )


def test_a_reduce_only_stop_rests_until_the_mark_reaches_it_then_closes_at_market() -> None:
    exchange = make_exchange()  # book 100.00 / 100.10, mark 100.05
    exchange.place(ALICE, market("entry", Side.SELL, "2"))  # short 2 at 100.00
    resting = exchange.place(ALICE, stop("backstop", Side.BUY, "2", "102.00"))
    assert resting.status is OrderStatus.NEW and resting.filled_qty == 0
    assert [o.client_id for o in exchange.open_orders(ALICE, SYMBOL)] == ["backstop"]
    exchange.set_book(SYMBOL, D("101.90"), D("102.00"))  # mark 101.95: not yet
    waiting = exchange.order(ALICE, SYMBOL, client_id="backstop")
    assert waiting is not None and waiting.status is OrderStatus.NEW
    exchange.set_book(SYMBOL, D("102.00"), D("102.10"))  # mark 102.05: fires, takes the ask
    fired = exchange.order(ALICE, SYMBOL, client_id="backstop")
    assert fired is not None
    assert (fired.status, fired.filled_qty, fired.avg_price) == (
        OrderStatus.FILLED,
        D(2),
        D("102.10"),
    )
    assert exchange.position(ALICE, SYMBOL).qty == 0
    assert exchange.open_orders(ALICE, SYMBOL) == []


def test_a_stop_past_the_mark_is_refused_and_one_without_a_position_expires() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.BUY, "1"))  # long 1
    assert (
        refusal(exchange, stop("late", Side.SELL, "1", "100.10")).code is RejectCode.WOULD_TRIGGER
    )
    assert refusal(exchange, stop("tick", Side.SELL, "1", "98.005")).code is RejectCode.BAD_TICK
    exchange.place(ALICE, stop("backstop", Side.SELL, "1", "98.00"))
    exchange.place(ALICE, market("close", Side.SELL, "1"))  # the leg closed some other way
    exchange.set_book(SYMBOL, D("97.00"), D("97.10"))
    gone = exchange.order(ALICE, SYMBOL, client_id="backstop")
    assert gone is not None and (gone.status, gone.filled_qty) == (OrderStatus.EXPIRED, D(0))
    assert exchange.position(ALICE, SYMBOL).qty == 0  # never flipped


def test_a_resting_stop_survives_the_state_round_trip() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.SELL, "1"))
    exchange.place(ALICE, stop("backstop", Side.BUY, "1", "103.00"))
    restored = SimExchange.from_dict(exchange.to_dict())
    restored.set_book(SYMBOL, D("103.00"), D("103.10"))
    fired = restored.order(ALICE, SYMBOL, client_id="backstop")
    assert fired is not None and fired.status is OrderStatus.FILLED


def test_a_take_profit_trigger_fires_the_other_way() -> None:
    exchange = make_exchange()  # mark 100.05
    exchange.place(ALICE, market("entry", Side.SELL, "1"))  # short 1 at 100.00
    take_profit = TriggerTerms(take_profit=True)
    late = stop("late", Side.BUY, "1", "100.10")  # a buy take-profit above the mark: reached
    with pytest.raises(OrderRefused) as caught:
        exchange.place(ALICE, late, trigger=take_profit)
    assert caught.value.code is RejectCode.WOULD_TRIGGER
    exchange.place(ALICE, stop("tp", Side.BUY, "1", "99.00"), trigger=take_profit)
    exchange.set_book(SYMBOL, D("101.00"), D("101.10"))  # a loss: it waits
    waiting = exchange.order(ALICE, SYMBOL, client_id="tp")
    assert waiting is not None and waiting.waiting and waiting.take_profit
    exchange.set_book(SYMBOL, D("98.90"), D("99.00"))  # mark 98.95: fires at the ask
    fired = exchange.order(ALICE, SYMBOL, client_id="tp")
    assert fired is not None
    assert (fired.status, fired.avg_price, fired.triggered_at) == (
        OrderStatus.FILLED, D("99.00"), 1000.0,
    )  # fmt: skip


def test_a_trigger_watches_the_last_trade_in_the_book_or_the_index() -> None:
    exchange = make_exchange()  # book 100.00 / 100.10, mark 100.05, no trade yet
    assert exchange.price(SYMBOL, PriceSource.LAST) == D("100.05")
    exchange.place(ALICE, market("entry", Side.BUY, "2"))  # long 2 at 100.10
    assert exchange.price(SYMBOL, PriceSource.LAST) == D("100.10")
    on_last, on_index = TriggerTerms(PriceSource.LAST), TriggerTerms(PriceSource.INDEX)
    exchange.place(ALICE, stop("last", Side.SELL, "1", "100.05"), trigger=on_last)
    exchange.place(ALICE, stop("index", Side.SELL, "1", "99.00"), trigger=on_index)
    # The mark stays up, the index falls: the index stop sells at the bid, 100.06.
    exchange.set_book(SYMBOL, D("100.06"), D("100.16"), mark=D("100.11"), index=D("98.99"))
    index = exchange.order(ALICE, SYMBOL, client_id="index")
    assert index is not None and (index.status, index.avg_price) == (
        OrderStatus.FILLED, D("100.06"),
    )  # fmt: skip
    assert exchange.price(SYMBOL, PriceSource.LAST) == D("100.06")
    assert [o.client_id for o in exchange.open_orders(ALICE)] == ["last"]
    exchange.set_book(SYMBOL, D("99.90"), D("100.00"), mark=D("100.11"))  # last: 100.00
    last = exchange.order(ALICE, SYMBOL, client_id="last")
    assert last is not None and (last.status, last.avg_price) == (OrderStatus.FILLED, D("99.90"))
    assert exchange.position(ALICE, SYMBOL).qty == 0


def test_a_fired_orders_fill_fires_a_stop_on_the_last_price_it_moved() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.BUY, "2"))  # long 2 at 100.10: the last trade
    exchange.place(
        ALICE, stop("last", Side.SELL, "1", "100.07"), trigger=TriggerTerms(PriceSource.LAST)
    )
    exchange.place(
        ALICE, stop("index", Side.SELL, "1", "99.00"), trigger=TriggerTerms(PriceSource.INDEX)
    )
    exchange.set_book(SYMBOL, D("100.06"), D("100.16"), mark=D("100.11"), index=D("98.99"))
    assert exchange.open_orders(ALICE) == []  # the index stop's fill at 100.06 fired the other
    assert exchange.position(ALICE, SYMBOL).qty == 0


def test_a_position_share_sizes_the_order_when_it_fires() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.SELL, "1"))  # short 1
    close = TriggerTerms(position_share=D(1))
    opening = OrderRequest(
        "open", SYMBOL, Side.BUY, OrderType.STOP_MARKET, D(0), trigger_price=D(102)
    )
    with pytest.raises(OrderRefused) as caught:
        exchange.place(ALICE, opening, trigger=close)
    assert caught.value.code is RejectCode.REDUCE_ONLY
    resting = exchange.place(ALICE, stop("close", Side.BUY, "0", "102.00"), trigger=close)
    assert (resting.qty, resting.position_share) == (D(0), D(1))
    exchange.place(ALICE, market("add", Side.SELL, "2"))  # short 3
    exchange.set_book(SYMBOL, D("102.00"), D("102.10"))
    fired = exchange.order(ALICE, SYMBOL, client_id="close")
    assert fired is not None and (fired.status, fired.qty, fired.filled_qty) == (
        OrderStatus.FILLED, D(3), D(3),
    )  # fmt: skip
    assert exchange.position(ALICE, SYMBOL).qty == 0


def test_the_firing_gate_can_refuse_or_thin_the_fired_order() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.SELL, "2"))
    changes: list[tuple[str, OrderStatus, float | None, bool]] = []
    exchange.add_listener(
        lambda o, f: changes.append((o.client_id, o.status, o.triggered_at, f is not None))
    )
    gates = iter([Firing(refused=True), Firing(fill_fraction=D("0.5"))])
    exchange.firing_gate = lambda order: next(gates)
    exchange.place(ALICE, stop("refused", Side.BUY, "1", "102.00"))
    exchange.place(ALICE, stop("thinned", Side.BUY, "2", "103.00"))
    exchange.set_book(SYMBOL, D("102.00"), D("102.10"))
    exchange.set_book(SYMBOL, D("103.00"), D("103.10"))
    assert changes == [
        ("refused", OrderStatus.NEW, None, False),
        ("thinned", OrderStatus.NEW, None, False),
        ("refused", OrderStatus.REJECTED, 1000.0, False),
        ("thinned", OrderStatus.NEW, 1000.0, False),  # fired: now a market order
        ("thinned", OrderStatus.PARTIALLY_FILLED, 1000.0, True),
        ("thinned", OrderStatus.EXPIRED, 1000.0, False),
    ]
    assert exchange.position(ALICE, SYMBOL).qty == D(-1)


def test_trigger_terms_and_prices_survive_the_state_round_trip() -> None:
    exchange = make_exchange()
    exchange.place(ALICE, market("entry", Side.SELL, "1"))
    terms = TriggerTerms(PriceSource.LAST, take_profit=True, position_share=D("0.5"))
    exchange.place(ALICE, stop("tp", Side.BUY, "0", "99.00"), trigger=terms)
    exchange.set_book(SYMBOL, D("100.00"), D("100.10"), index=D("100.02"))
    restored = SimExchange.from_dict(json.loads(json.dumps(exchange.to_dict())))
    order = restored.order(ALICE, SYMBOL, client_id="tp")
    assert order is not None
    assert (order.trigger_by, order.take_profit, order.position_share) == (
        PriceSource.LAST, True, D("0.5"),
    )  # fmt: skip
    assert restored.price(SYMBOL, PriceSource.INDEX) == D("100.02")
    assert restored.price(SYMBOL, PriceSource.LAST) == D("100.00")
