"""Many pairs in one daemon, through the real venue clients over HTTP and WebSocket against
the wire simulators: every pair runs its own round to DONE on one price stream per venue,
with its own strategy; a pair blocked by a position the store cannot explain blocks only
itself; hedgectl groups by pair and filters with --pair."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from invariants import check_invariants, wire_records
from roundkit import on_simulators

from hedged import orders
from hedged.adapters.backpack.signing import new_keypair
from hedged.config import Config, load
from hedged.engine import Engine
from hedged.legs import ASTER, BACKPACK, VENUES, legs_of
from hedged.model import OrderRequest, OrderType, Side
from hedged.secrets import AsterCredentials, BackpackCredentials, Credentials, Secret
from hedged.sim.accounts import Accounts, AsterV1Key, BackpackKey
from hedged.sim.server import SimServers, WorldSpec, build_world
from hedged.store import Store
from hedged.venues import clients

D = Decimal
ACCOUNT = "pairs"
PAIRS = {"SOLUSDT": "SOL_USDC_PERP", "ETHUSDT": "ETH_USDC_PERP", "BTCUSDT": "BTC_USDC_PERP"}
SYMBOLS = {ASTER: tuple(PAIRS), BACKPACK: tuple(PAIRS.values())}

CONFIG = """
[strategy]
position_size_usdt = 25
mode = "single"
max_price_age_seconds = 60
cooldown_seconds = 0
poll_interval_seconds = 0.05

[[pair]]
aster_symbol = "SOLUSDT"
backpack_symbol = "SOL_USDC_PERP"

[[pair]]
aster_symbol = "ETHUSDT"
backpack_symbol = "ETH_USDC_PERP"
position_size_usdt = 40

[[pair]]
aster_symbol = "BTCUSDT"
backpack_symbol = "BTC_USDC_PERP"
"""


class PairsRig:
    """One daemon on three pairs; the simulators in process, the price held still (it moves
    only when a test says so, every pair's at once)."""

    def __init__(self, tmp_path: Path) -> None:
        v1_key, v1_secret = secrets.token_hex(16), secrets.token_hex(32)
        bp_secret, bp_public = new_keypair()
        accounts = Accounts(
            aster_v1={v1_key: AsterV1Key(v1_key, v1_secret, ACCOUNT)},
            backpack={bp_public: BackpackKey(bp_public, ACCOUNT)},
            balances={ACCOUNT: D(10_000)},
        )
        spec = WorldSpec(
            symbols={ASTER: tuple(PAIRS), BACKPACK: tuple(PAIRS.values())},
            start_price=D(100),
            basis_bps=D(0),
        )
        self.world = build_world(spec, accounts, None)
        self.servers = SimServers(self.world, accounts, tick_seconds=0)
        (tmp_path / "hedged.toml").write_text(CONFIG)
        self.url = f"sqlite:///{tmp_path / 'hedged.db'}"
        self.config: Config = load(tmp_path / "hedged.toml", overrides={"store.url": self.url})
        self.credentials = Credentials(
            AsterCredentials(None, None, None, Secret(v1_key), Secret(v1_secret)),
            BackpackCredentials(Secret(bp_public), Secret(bp_secret)),
        )
        self.store = Store(self.url)
        self.engine: Engine | None = None

    async def start(self, config: Config | None = None) -> Engine:
        """The daemon (again, as after a restart, with `config` if given)."""
        if self.engine is None:
            await self.servers.start()
        else:
            await self.engine.stop()
            self.store.close()
            self.store = Store(self.url)
        self.config = config or self.config
        cfg = on_simulators(self.config, self.servers)
        self.engine = Engine(cfg, self.store, clients(cfg, self.credentials))
        self.engine.command_poll_seconds = 0.0
        await self.engine.start()
        return self.engine

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        await self.servers.stop()
        self.store.close()

    async def tick(self) -> None:
        assert self.engine is not None
        await asyncio.sleep(0.02)  # let the WebSocket pushes arrive
        await self.engine.tick()
        await self.engine.settled()

    async def move(self, price: str) -> None:
        self.world.set_price(D(price))
        await self.tick()

    def states(self) -> dict[str, str]:
        """Each pair's round's state, by Aster symbol."""
        rounds = self.store.recent_rounds(100)
        return {r.aster_symbol: r.state for r in rounds}

    async def until(self, state: str, pairs: list[str], ticks: int = 300) -> None:
        for _ in range(ticks):
            if all(self.states().get(p) == state for p in pairs):
                return
            await self.tick()
        raise AssertionError(f"rounds {self.states()}, wanted {state} on {pairs}")

    async def check_invariants(self) -> None:
        records = await wire_records(self.servers, ACCOUNT, SYMBOLS)
        assert check_invariants(self.store, records).violations == []


@pytest.fixture(autouse=True)
def quick_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "CLOCK_MARGIN", 0.2)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[PairsRig]:
    r = PairsRig(tmp_path)
    yield r
    await r.stop()


def ctl(rig: PairsRig, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "hedged.ctl", *args, "--db", rig.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ | {"COLUMNS": "200"},
    ).stdout


async def test_every_pair_runs_its_round_to_done_on_one_stream_per_venue(rig: PairsRig) -> None:
    engine = await rig.start()
    await rig.tick()
    await rig.until("MONITORING", list(PAIRS))
    await rig.move("100.9")  # every Aster short reaches its stop
    await rig.until("LIMIT_SET", list(PAIRS))
    await rig.move("101.5")  # every Backpack long's take-profit fills
    await rig.until("DONE", list(PAIRS))
    await rig.check_invariants()

    rounds = {r.aster_symbol: r for r in rig.store.recent_rounds(10)}
    assert len(rounds) == 3 and {r.backpack_symbol for r in rounds.values()} == set(PAIRS.values())
    qty = {p: legs_of(r, rig.store.orders_of(r.id or 0))[ASTER].entered for p, r in rounds.items()}
    assert qty["ETHUSDT"] > qty["SOLUSDT"] == qty["BTCUSDT"]  # ETH's own size: 40 USDT, not 25
    # One price connection per venue carries the three symbols.
    assert engine.venues[ASTER].symbols == tuple(PAIRS)  # type: ignore[attr-defined]
    assert len(engine._streams) == 2 * len(VENUES)  # a price and an order stream per venue
    assert engine._finished()  # single mode: one round on each pair, each done


async def test_a_pair_the_store_cannot_explain_blocks_that_pair_only(rig: PairsRig) -> None:
    foreign = OrderRequest("manual-1", "ETHUSDT", Side.SELL, OrderType.MARKET, D(1))
    rig.world.venues[ASTER].place(ACCOUNT, foreign)  # a position no round of ours explains
    engine = await rig.start()
    await rig.tick()
    await rig.until("MONITORING", ["SOLUSDT", "BTCUSDT"])
    assert "ETHUSDT" not in rig.states()  # no round on the blocked pair
    assert engine.blocked is not None and "aster ETHUSDT position -1" in engine.blocked
    assert "SOLUSDT" not in engine.blocked and "BTCUSDT" not in engine.blocked
    assert rig.store.get_meta("blocked:ETHUSDT") == "aster ETHUSDT position -1, rounds expect 0"
    assert rig.store.get_meta("blocked:SOLUSDT") == ""
    await rig.move("100.9")
    await rig.until("LIMIT_SET", ["SOLUSDT", "BTCUSDT"])
    await rig.move("101.5")
    await rig.until("DONE", ["SOLUSDT", "BTCUSDT"])
    assert "ETHUSDT" not in rig.states()
    assert engine._finished()  # the blocked pair can never open: nothing to wait for
    records = await wire_records(rig.servers, ACCOUNT, SYMBOLS)
    verdict = check_invariants(rig.store, records, foreign={ASTER: {"manual-1"}})
    assert verdict.violations == []


async def test_hedgectl_groups_by_pair_and_filters_with_pair(rig: PairsRig) -> None:
    await rig.start()
    await rig.tick()
    await rig.until("MONITORING", list(PAIRS))
    await rig.move("100.9")
    await rig.until("LIMIT_SET", list(PAIRS))
    await rig.move("101.5")
    await rig.until("DONE", list(PAIRS))

    status = json.loads(ctl(rig, "status", "--json", "--pair", "ETHUSDT"))
    assert {r["pair"] for r in status["rounds"]} == {"ETHUSDT/ETH_USDC_PERP"}
    everything = json.loads(ctl(rig, "status", "--json"))
    assert {r["pair"] for r in everything["rounds"]} == {f"{a}/{b}" for a, b in PAIRS.items()}

    single = "single mode: one round only"  # each pair had its one round
    assert status["pairs"] == {
        "ETHUSDT/ETH_USDC_PERP": {"blocked": None, "not_opening": single, "active": 0}
    }
    everything_pairs = everything["pairs"]
    assert set(everything_pairs) == {f"{a}/{b}" for a, b in PAIRS.items()}

    history = json.loads(ctl(rig, "history", "--json", "--pair", "BTCUSDT"))
    assert [len(d["rounds"]) for d in history["days"]] == [1]
    assert history["pair"] == "BTCUSDT" and list(history["pairs"]) == ["BTCUSDT"]
    grouped = json.loads(ctl(rig, "history", "--json"))
    assert sum(len(d["rounds"]) for d in grouped["days"]) == 3
    assert set(grouped["pairs"]) == set(PAIRS)
    assert all(grouped["pairs"][p]["rounds"] == 1 for p in PAIRS)

    text = ctl(rig, "status", "--pair", "SOLUSDT")
    assert "SOLUSDT" in text and "ETHUSDT" not in text
    grouped_text = ctl(rig, "status")
    assert all(f"pair {a}/{b}" in grouped_text for a, b in PAIRS.items())
    table = ctl(rig, "history")
    assert all(p in table for p in PAIRS)  # each pair's totals
    watched = json.loads(ctl(rig, "watch", "--once", "--json", "--pair", "ETH_USDC_PERP"))
    assert [r["pair"] for r in watched["rounds"]] == ["ETHUSDT/ETH_USDC_PERP"]
    assert {q["symbol"] for q in watched["quotes"]} <= {"ETHUSDT", "ETH_USDC_PERP"}
    assert json.loads(ctl(rig, "halted", "--json", "--pair", "ETHUSDT")) == []
    unknown = subprocess.run(
        [sys.executable, "-m", "hedged.ctl", "status", "--pair", "DOGEUSDT", "--db", rig.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 1 and "DOGEUSDT" in unknown.stderr


async def test_a_round_of_a_pair_dropped_from_the_configuration_is_seen_to_its_end(
    rig: PairsRig, tmp_path: Path
) -> None:
    await rig.start()
    await rig.tick()
    await rig.until("MONITORING", list(PAIRS))
    without_eth = CONFIG.replace(
        '[[pair]]\naster_symbol = "ETHUSDT"\nbackpack_symbol = "ETH_USDC_PERP"\n'
        "position_size_usdt = 40\n",
        "",
    )
    (tmp_path / "fewer.toml").write_text(without_eth)
    fewer = load(tmp_path / "fewer.toml", overrides={"store.url": rig.url})
    assert [p.aster_symbol for p in fewer.pairs] == ["SOLUSDT", "BTCUSDT"]
    engine = await rig.start(fewer)  # restarted without the ETH pair
    eth = rig.store.recent_rounds(10)[-2]
    assert eth.aster_symbol == "ETHUSDT"
    pair = engine.pairs.get("ETHUSDT")
    assert pair is not None and not pair.configured
    await rig.move("100.9")
    await rig.until("LIMIT_SET", list(PAIRS))
    await rig.move("101.5")
    await rig.until("DONE", list(PAIRS))
    assert len(rig.store.recent_rounds(10)) == 3  # no new round on the dropped pair
    await rig.check_invariants()


def test_a_symbol_the_venue_does_not_list_names_its_pair(tmp_path: Path) -> None:
    from hedged.adapters.aster.wire import UnknownSymbol
    from hedged.venues import start_refusal

    (tmp_path / "hedged.toml").write_text(CONFIG)
    cfg = load(tmp_path / "hedged.toml")
    refusal = start_refusal(cfg, UnknownSymbol("exchangeInfo has no symbol ETHUSDT"))
    assert refusal is not None and refusal.key == "pair[ETHUSDT].aster_symbol"
    assert refusal.problem == "aster does not list ETHUSDT"
