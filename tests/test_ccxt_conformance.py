"""A trader's own tool against the simulators: ccxt's `aster` and `backpack` clients, with only
their base URLs and keys changed, through markets, ticker, book, candles, balance, leverage,
funding rate, a market order with a client id, lookups by id and client id, positions, a
reduce-only limit, open orders, cancel, cancel all, funding, close, the flat check, trades,
funding history, and the balance afterwards: start + realized PnL - fees + funding.

Both simulators run in process on 127.0.0.1 over one World that moves only when the test
says (tick 0); the exchanges' clock can be moved an hour ahead to reach a funding
settlement, while the servers keep the wall clock the clients sign with."""

from __future__ import annotations

import decimal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedged.adapters.aster.signing import new_agent_key
from hedged.adapters.backpack.signing import new_keypair
from hedged.sim.accounts import Accounts, AsterAgent, BackpackKey
from hedged.sim.server import SimServers, WorldSpec, build_world
from hedged.sim.world import World

D = Decimal
START = D(10_000)
PRICE = D(150)
ASTER_SYMBOL, BACKPACK_SYMBOL = "SOLUSDT", "SOL_USDC_PERP"
ASTER_TAKER, BACKPACK_TAKER = D("0.00035"), D("0.0005")


class ShiftedClock:
    """The wall clock, moved ahead by `offset` seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Sim:
    servers: SimServers
    world: World
    clock: ShiftedClock
    aster_key: str
    backpack_key: tuple[str, str]  # (public, secret)


@pytest.fixture(autouse=True)
def own_decimal_context() -> Iterator[None]:
    # ccxt sets the decimal context's rounding for the whole thread: keep it to this module.
    with decimal.localcontext():
        yield


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    # ccxt signs Aster V3 with the wallet's own key: user and signer are one address.
    aster_key, address = new_agent_key()
    bp_secret, bp_public = new_keypair()
    accounts = Accounts(
        aster_agents={address.lower(): AsterAgent(address, address, "alice")},
        backpack={bp_public: BackpackKey(bp_public, "alice")},
        balances={"alice": START},
    )
    spec = WorldSpec(
        {"aster": ASTER_SYMBOL, "backpack": BACKPACK_SYMBOL},
        start_price=PRICE,
        funding=True,
        funding_hours=D(1),  # both venues hourly: one hour ahead is one settlement
    )
    clock = ShiftedClock()
    world = build_world(spec, accounts, None, clock)
    servers = SimServers(world, accounts, tick_seconds=0)
    await servers.start()
    try:
        yield Sim(servers, world, clock, aster_key, (bp_public, bp_secret))
    finally:
        await servers.stop()


def aster_client(sim: Sim) -> Any:
    # builderFee: ccxt by default approves its own builder to take up to 0.1 % of every order
    # (POST /fapi/v3/approveBuilder on sign-in); builder fees are not simulated.
    client = ccxt.aster({"privateKey": sim.aster_key, "options": {"builderFee": False}})
    base = sim.servers.url("aster")
    client.urls["api"] = {
        "fapiPublic": f"{base}/fapi",
        "fapiPrivate": f"{base}/fapi",
        "sapiPublic": f"{base}/api",
        "sapiPrivate": f"{base}/api",
    }
    return client


def backpack_client(sim: Sim) -> Any:
    public, secret = sim.backpack_key
    client = ccxt.backpack({"apiKey": public, "secret": secret})
    base = sim.servers.url("backpack")
    client.urls["api"] = {"public": base, "private": base}
    return client


def dec(value: object) -> Decimal:
    """A number ccxt parsed into a float, back as the decimal the venue wrote."""
    return D(str(value))


async def rest_cancel_and_cancel_all(client: Any, symbol: str, client_id: object) -> str:
    """A reduce-only take-profit rests and is cancelled; two more go with cancel-all. The
    take-profit's id."""
    take = await client.create_order(
        symbol, "limit", "sell", 0.5, 160, {"reduceOnly": True, "clientOrderId": client_id}
    )
    [resting] = await client.fetch_open_orders(symbol)
    assert (resting["id"], resting["reduceOnly"], dec(resting["price"])) == (
        take["id"],
        True,
        D(160),
    )
    assert resting["clientOrderId"] == str(client_id)
    cancelled = await client.cancel_order(take["id"], symbol)
    assert cancelled["status"] == "canceled"
    await client.create_order(symbol, "limit", "sell", 0.5, 161, {"reduceOnly": True})
    await client.create_order(symbol, "limit", "sell", 0.5, 162, {"reduceOnly": True})
    assert len(await client.fetch_open_orders(symbol)) == 2
    await client.cancel_all_orders(symbol)
    assert await client.fetch_open_orders(symbol) == []
    take_id: str = take["id"]
    return take_id


def settle_funding(sim: Sim) -> None:
    """An hour later on the exchanges' clock, and the price moves: funding settles."""
    sim.clock.offset += 3600
    sim.world.set_price(PRICE)


async def test_ccxt_aster_trader_flow(sim: Sim) -> None:
    client = aster_client(sim)
    symbol = "SOL/USDT:USDT"
    try:
        markets = await client.load_markets()
        market = markets[symbol]
        assert (market["id"], market["type"], market["settle"]) == (ASTER_SYMBOL, "swap", "USDT")
        assert dec(market["precision"]["price"]) == D("0.01")
        assert dec(market["limits"]["amount"]["min"]) == D("0.01")
        assert dec(market["limits"]["cost"]["min"]) == D(5)

        ticker = await client.fetch_ticker(symbol)
        assert dec(ticker["last"]) == PRICE
        book = await client.fetch_order_book(symbol)
        assert [dec(book["bids"][0][0]), dec(book["asks"][0][0])] == [D("149.98"), D("150.02")]
        candles = await client.fetch_ohlcv(symbol, "1m")
        assert [dec(x) for x in candles[-1][1:5]] == [PRICE] * 4
        assert candles[-1][0] % 60_000 == 0

        balance = await client.fetch_balance({"type": "swap"})
        assert dec(balance["USDT"]["total"]) == START
        leverage = await client.set_leverage(5, symbol)
        assert leverage["leverage"] == 5

        predicted = sim.world.funding["aster"].rate(ASTER_SYMBOL)
        funding = await client.fetch_funding_rate(symbol)
        assert dec(funding["fundingRate"]) == predicted
        assert dec(funding["markPrice"]) == PRICE
        next_at = sim.world.funding["aster"].next_time(ASTER_SYMBOL)
        assert funding["nextFundingTimestamp"] == int(next_at * 1000)

        placed = await client.create_order(
            symbol, "market", "buy", 1, None, {"clientOrderId": "conf-open-1"}
        )
        by_id = await client.fetch_order(placed["id"], symbol)
        by_client = await client.fetch_order(None, symbol, {"clientOrderId": "conf-open-1"})
        assert by_id["id"] == by_client["id"] == placed["id"]
        assert (by_id["status"], by_id["clientOrderId"]) == ("closed", "conf-open-1")
        assert (dec(by_id["filled"]), dec(by_id["average"])) == (D(1), D("150.02"))

        [position] = await client.fetch_positions([symbol])
        assert (position["side"], dec(position["contracts"])) == ("long", D(1))
        assert dec(position["entryPrice"]) == D("150.02")

        await rest_cancel_and_cancel_all(client, symbol, "conf-tp-1")

        settle_funding(sim)
        rates = sim.world.venues["aster"].funding_rates(ASTER_SYMBOL)
        assert rates[0].rate == predicted
        # A long pays when the rate is positive; Aster charges to 8 decimals.
        paid = [(-r.mark * r.rate).quantize(D("1e-8")) for r in rates]
        history = await client.fetch_funding_history(symbol)
        assert [dec(h["amount"]) for h in history] == paid
        settled = await client.fetch_funding_rate_history(symbol)
        assert [dec(r["fundingRate"]) for r in settled] == [r.rate for r in rates]

        close = await client.create_order(symbol, "market", "sell", 1, None, {"reduceOnly": True})
        closed = await client.fetch_order(close["id"], symbol)
        assert (closed["status"], dec(closed["average"])) == ("closed", D("149.98"))
        assert [p for p in await client.fetch_positions([symbol]) if p["contracts"]] == []

        public = await client.fetch_trades(symbol)
        assert [dec(t["price"]) for t in public] == [D("150.02"), D("149.98")]
        trades = await client.fetch_my_trades(symbol)
        assert [(t["side"], dec(t["price"]), dec(t["amount"])) for t in trades] == [
            ("buy", D("150.02"), D(1)),
            ("sell", D("149.98"), D(1)),
        ]
        fees = [dec(t["fee"]["cost"]) for t in trades]
        assert fees == [(p * ASTER_TAKER).quantize(D("1e-8")) for p in (D("150.02"), D("149.98"))]

        pnl = D("149.98") - D("150.02")
        balance = await client.fetch_balance({"type": "swap"})
        assert dec(balance["USDT"]["total"]) == START + pnl - sum(fees) + sum(paid)
    finally:
        await client.close()


async def test_ccxt_backpack_trader_flow(sim: Sim) -> None:
    client = backpack_client(sim)
    symbol = "SOL/USDC:USDC"
    mark = D("150.045")  # Backpack quotes the price 3 bps over Aster's; book 150.02 / 150.07
    try:
        markets = await client.load_markets()
        market = markets[symbol]
        assert (market["id"], market["type"], market["settle"]) == (BACKPACK_SYMBOL, "swap", "USDC")
        assert dec(market["precision"]["price"]) == D("0.01")
        assert dec(market["limits"]["amount"]["min"]) == D("0.01")

        ticker = await client.fetch_ticker(symbol)
        assert dec(ticker["last"]) == mark
        book = await client.fetch_order_book(symbol)
        assert [dec(book["bids"][0][0]), dec(book["asks"][0][0])] == [D("150.02"), D("150.07")]
        candles = await client.fetch_ohlcv(symbol, "1m")
        assert [dec(x) for x in candles[-1][1:5]] == [mark] * 4

        balance = await client.fetch_balance()
        assert dec(balance["USDC"]["total"]) == START
        # ccxt has no setLeverage for Backpack: its implicit API sends the account update.
        await client.privatePatchApiV1Account({"leverageLimit": "5"})
        account = await client.privateGetApiV1Account()
        assert (account["leverageLimit"], account["futuresTakerFee"]) == ("5", "5")

        predicted = sim.world.funding["backpack"].rate(BACKPACK_SYMBOL)
        funding = await client.fetch_funding_rate(symbol)
        assert dec(funding["fundingRate"]) == predicted
        assert dec(funding["markPrice"]) == mark

        placed = await client.create_order(
            symbol, "market", "buy", 1, None, {"clientOrderId": 4242}
        )
        assert (placed["status"], dec(placed["filled"])) == ("closed", D(1))
        by_id = await client.fetch_order(placed["id"], symbol)
        assert (by_id["id"], by_id["clientOrderId"]) == (placed["id"], "4242")
        # ccxt's fetchOrder takes only the venue id; the client id goes through the history
        # endpoint's filter with ccxt's implicit API.
        [by_client] = await client.privateGetWapiV1HistoryOrders(
            {"symbol": BACKPACK_SYMBOL, "clientId": 4242}
        )
        assert (by_client["id"], by_client["status"]) == (placed["id"], "Filled")

        [position] = await client.fetch_positions([symbol])
        assert (position["side"], dec(position["contracts"])) == ("long", D(1))
        assert dec(position["entryPrice"]) == D("150.07")

        take_id = await rest_cancel_and_cancel_all(client, symbol, 4243)
        # The cancelled take-profit by its client id, in the order history.
        [resting] = await client.privateGetWapiV1HistoryOrders(
            {"symbol": BACKPACK_SYMBOL, "clientId": 4243}
        )
        assert (resting["id"], resting["status"]) == (take_id, "Cancelled")

        settle_funding(sim)
        rates = sim.world.venues["backpack"].funding_rates(BACKPACK_SYMBOL)
        assert rates[0].rate == predicted
        paid = [-r.mark * r.rate for r in rates]
        history = await client.fetch_funding_history(symbol)
        assert sorted(dec(h["amount"]) for h in history) == sorted(paid)
        settled = await client.fetch_funding_rate_history(symbol)
        assert [dec(r["fundingRate"]) for r in settled] == [r.rate for r in rates]
        interest = await client.fetch_open_interest(symbol)
        assert interest["info"]["openInterest"] == "1"  # contracts (ccxt files it as value)

        close = await client.create_order(symbol, "market", "sell", 1, None, {"reduceOnly": True})
        assert (close["status"], dec(close["average"])) == ("closed", D("150.02"))
        assert await client.fetch_positions([symbol]) == []

        public = await client.fetch_trades(symbol)
        assert [dec(t["price"]) for t in public] == [D("150.07"), D("150.02")]
        trades = await client.fetch_my_trades(symbol)
        assert sorted((t["side"], dec(t["price"]), dec(t["amount"])) for t in trades) == [
            ("buy", D("150.07"), D(1)),
            ("sell", D("150.02"), D(1)),
        ]
        fees = [dec(t["fee"]["cost"]) for t in trades]
        assert sorted(fees) == sorted(p * BACKPACK_TAKER for p in (D("150.07"), D("150.02")))

        pnl = D("150.02") - D("150.07")
        balance = await client.fetch_balance()
        assert dec(balance["USDC"]["total"]) == START + pnl - sum(fees) + sum(paid)
    finally:
        await client.close()
