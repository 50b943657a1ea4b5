"""The Prometheus endpoint, scraped over real HTTP on 127.0.0.1 after driving rounds through
the real engine on the simulator (tests/roundkit.py)."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from roundkit import ASTER, BACKPACK, D, Rig, settle

from hedged import config
from hedged.config import ConfigError
from hedged.costs import total
from hedged.engine import Engine
from hedged.legs import VENUES
from hedged.metrics import HOST, Metrics, MetricsServer, reason_class
from hedged.model import FundingShare, OrderRequest, OrderType, Side
from hedged.observe import NULL_OBSERVER, Observer, Observers, observed_venues, observing
from hedged.report import history

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def start_observed(rig: Rig, observer: Observer) -> Engine:
    """Like Rig.start, with the observer wired as `hedged run` wires it."""
    rig.engine = Engine(
        rig.config, rig.store, observed_venues(rig.venues, observer), observer=observer
    )
    await rig.engine.start()
    await settle()
    return rig.engine


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"no series {name}{labels}"
    return samples[key]


def moves(samples: Samples, source: str, dest: str) -> float:
    return value(samples, "hedged_round_transitions_total", **{"from": source, "to": dest})


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[tuple[Rig, Metrics, MetricsServer]]:
    rig = Rig(tmp_path, mode="continuous", max_rounds=2)
    metrics = Metrics(rig.store)
    server = MetricsServer(metrics, 0)
    await server.start()
    await start_observed(rig, Observers(metrics))
    yield rig, metrics, server
    await server.stop()
    await rig.stop()


async def test_rounds_show_up_on_the_scraped_page(
    watched: tuple[Rig, Metrics, MetricsServer],
) -> None:
    rig, _, server = watched
    # Round 1: Backpack refuses the entry, the Aster leg is flattened.
    rig.venues[BACKPACK].faults.arm("place", "reject")
    await rig.tick()
    await rig.until("DONE", 1)
    # Round 2: the short is stopped out, the long's take-profit fills.
    await rig.until("MONITORING", 2)
    mid = await scrape(server.url)
    assert value(mid, "hedged_rounds", state="MONITORING") == 1
    assert value(mid, "hedged_rounds", state="OPENING") == 0
    await rig.move("100.9")
    await rig.until("LIMIT_SET", 2)
    await rig.move("101.5")
    await rig.until("DONE", 2)
    await rig.check_invariants()

    s = await scrape(server.url)
    for state in ("OPENING", "MONITORING", "LIMIT_SET", "CLOSING", "HALTED"):
        assert value(s, "hedged_rounds", state=state) == 0
    assert moves(s, "OPENING", "CLOSING") == 1
    assert moves(s, "MONITORING", "LIMIT_SET") == 1
    assert moves(s, "CLOSING", "DONE") == 2
    assert value(s, "hedged_rounds_finished_total", reason="entry_failed") == 1
    assert value(s, "hedged_rounds_finished_total", reason="take_profit") == 1

    done = [rig.round(1), rig.round(2)]
    pnl = sum((r.realized_pnl or D(0) for r in done), D(0))
    fees = sum((r.fees or D(0) for r in done), D(0))
    volume = sum((r.volume or D(0) for r in done), D(0))
    assert fees > 0
    assert value(s, "hedged_realized_pnl_usdt") == pytest.approx(float(pnl))
    assert value(s, "hedged_realized_pnl_today_usdt") == pytest.approx(float(pnl))
    assert value(s, "hedged_fees_usdt") == pytest.approx(float(fees))
    per_venue = [value(s, "hedged_volume_usdt_total", venue=v) for v in VENUES]
    assert all(v > 0 for v in per_venue)
    assert sum(per_venue) == pytest.approx(float(volume))

    # Every order call timed per venue and call; the injected refusal counted as an error.
    for venue in VENUES:
        placed = value(s, "hedged_venue_call_seconds_count", venue=venue, call="place")
        assert placed >= 3  # entry, close or stop, take-profit
        assert value(s, "hedged_venue_call_seconds_sum", venue=venue, call="place") >= 0
        assert (
            value(s, "hedged_venue_call_seconds_bucket", venue=venue, call="place", le="+Inf")
            == placed
        )
        for call in ("rules", "quote", "open_orders", "position", "fills"):
            assert value(s, "hedged_venue_call_seconds_count", venue=venue, call=call) >= 1
    assert (
        value(s, "hedged_venue_errors_total", venue=BACKPACK, call="place", outcome="rejected") == 1
    )
    assert not any(
        name == "hedged_venue_errors_total" and dict(labels)["venue"] == ASTER for name, labels in s
    )

    assert value(s, "hedged_reconciliations_total") == 1
    assert value(s, "hedged_reconcile_clean") == 1
    assert value(s, "hedged_reconcile_resolved_orders_total") == 0
    assert value(s, "hedged_reconcile_orphans_cancelled_total") == 0
    assert value(s, "hedged_reconcile_mismatches_total") == 0
    for venue in VENUES:
        age = value(s, "hedged_price_age_seconds", venue=venue)
        assert 0 <= age < 60
    assert value(s, "hedged_loop_passes_total") >= 4  # one per tick: 1 + 2 moves + round 2
    assert 0 <= value(s, "hedged_loop_lag_seconds") < 60
    assert value(s, "hedged_loop_last_pass_timestamp_seconds") > 1.7e9


async def test_reconciliation_results_are_counted(
    watched: tuple[Rig, Metrics, MetricsServer],
) -> None:
    rig, _, server = watched
    engine = rig.engine
    assert engine is not None
    await rig.tick()
    await rig.until("MONITORING")
    # A position opened behind the daemon's back, and an order of ours it does not know.
    foreign = OrderRequest("manual-1", rig.world.symbols[ASTER], Side.SELL, OrderType.MARKET, D(1))
    rig.world.venues[ASTER].place("test", foreign)
    orphan = OrderRequest(
        rig.venues[BACKPACK].client_id(rig.store.namespace, 999_999),
        rig.world.symbols[BACKPACK],
        Side.SELL,
        OrderType.LIMIT,
        D("0.24"),
        D(150),
        reduce_only=True,
    )
    rig.world.venues[BACKPACK].place("test", orphan)
    await engine.recover()
    assert rig.state() == "HALTED"

    s = await scrape(server.url)
    assert value(s, "hedged_reconciliations_total") == 2
    assert value(s, "hedged_reconcile_orphans_cancelled_total") == 1
    assert value(s, "hedged_reconcile_mismatches_total") == 1
    assert value(s, "hedged_reconcile_unresolved_orders_total") == 0
    assert value(s, "hedged_reconcile_clean") == 0
    assert value(s, "hedged_rounds", state="HALTED") == 1
    assert moves(s, "MONITORING", "HALTED") == 1


async def test_endpoint_binds_loopback_only_with_its_own_registry(tmp_path: Path) -> None:
    metrics = Metrics()
    server = MetricsServer(metrics, 0)
    await server.start()
    try:
        assert HOST == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
        assert server._runner is not None
        assert [a[0] for a in server._runner.addresses] == ["127.0.0.1"]
        s = await scrape(server.url)
        assert math.isnan(value(s, "hedged_price_age_seconds", venue=ASTER))
        assert value(s, "hedged_volume_usdt_total", venue=BACKPACK) == 0
    finally:
        await server.stop()
    assert REGISTRY.get_sample_value("hedged_loop_passes_total") is None  # not the global one


async def test_observing_follows_the_config(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        async with observing(rig.config, rig.store) as observer:
            assert observer is NULL_OBSERVER  # metrics and alerts off by default
        assert observed_venues(rig.venues, NULL_OBSERVER) is rig.venues

        with socket.socket() as taken:  # a busy port: logged, and the daemon goes on
            taken.bind((HOST, 0))
            taken.listen()
            port = taken.getsockname()[1]
            cfg = config.load(None, overrides={"metrics.port": port})
            async with observing(cfg, rig.store) as observer:
                assert observer is NULL_OBSERVER

        cfg = config.load(None, overrides={"metrics.port": free_port()})
        async with observing(cfg, rig.store) as observer:
            assert observer is not NULL_OBSERVER
            s = await scrape(f"http://{HOST}:{cfg.metrics.port}/metrics")
            assert value(s, "hedged_rounds", state="OPENING") == 0
    finally:
        await rig.stop()


def test_metrics_config() -> None:
    assert config.defaults().metrics.port == 0
    assert config.load(None, overrides={"metrics.port": 9464}).metrics.port == 9464
    for bad in (-1, 65536, "9464", True):
        with pytest.raises(ConfigError, match=r"metrics\.port"):
            config.load(None, overrides={"metrics.port": bad})


def test_reason_classes_are_bounded() -> None:
    assert reason_class("take-profit on backpack") == "take_profit"
    assert reason_class("stop-loss on both legs (aster last)") == "stop_loss"
    assert reason_class("time limit") == "time_limit"
    assert reason_class("entry failed: backpack: REJECTED INJECTED x") == "entry_failed"
    assert reason_class("not opened: position_size_usdt 25 ...") == "entry_failed"
    assert reason_class("legs filled 0.1 / 0.2, too little to hedge") == "entry_failed"
    assert reason_class("operator close") == "operator"
    assert reason_class("operator flatten") == "operator"
    assert reason_class("shutdown") == "shutdown"
    assert reason_class(None) == "other"
    assert reason_class("something new") == "other"


def test_money_is_decimal_until_the_metrics_boundary() -> None:
    metrics = Metrics()
    from hedged.store import RoundRow

    row = RoundRow(
        id=1,
        state="DONE",
        aster_symbol="SOLUSDT",
        backpack_symbol="SOL_USDC_PERP",
        reason="time limit",
        realized_pnl=Decimal("-0.1234"),
        fees=Decimal("0.0100"),
        volume=Decimal("100"),
    )
    metrics.round_moved(row, "CLOSING", "flat", "time limit")
    assert isinstance(row.realized_pnl, Decimal)
    assert metrics.registry.get_sample_value("hedged_realized_pnl_usdt") == pytest.approx(-0.1234)
    assert metrics.registry.get_sample_value(
        "hedged_rounds_finished_total", {"reason": "time_limit"}
    ) == pytest.approx(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def test_cost_counters_are_the_history_figures_of_the_finished_rounds(
    watched: tuple[Rig, Metrics, MetricsServer],
) -> None:
    """Volume, fees (maker/taker), funding, slippage and realized PnL per venue, counted once
    per round at DONE: the figures `hedgectl history` shows for the same rounds."""
    rig, _, server = watched
    await rig.tick()
    await rig.until("MONITORING", 1)
    # funding settles on both venues while the round holds its legs, and is recorded for it
    for venue, rate in ((ASTER, D("0.0001")), (BACKPACK, D("0.00005"))):
        symbol = rig.world.symbols[venue]
        rig.world.venues[venue].settle_funding(symbol, rate)
        payments = await rig.venues[venue].funding_payments(symbol, EPOCH)
        qty = rig.round(1).qty
        assert payments and qty is not None
        rig.store.add_funding(1, [FundingShare(p, p.amount, qty) for p in payments])
    await rig.move("100.9")
    await rig.until("LIMIT_SET", 1)
    await rig.move("101.5")
    await rig.until("DONE", 1)
    before = await scrape(server.url)
    await rig.until("MONITORING", 2)
    await rig.move("100.6")
    await rig.until("LIMIT_SET", 2)
    await rig.move("99.9")
    await rig.until("DONE", 2)
    s = await scrape(server.url)

    (day,) = history(rig.store).days
    rounds = {r.id: r.costs for r in day.rounds}
    for scraped, ids in ((before, [1]), (s, [1, 2])):  # after round 1, after both
        got, costs = costs_by_venue(scraped), total(rounds[i] for i in ids)
        fills = [f for i in ids for f in rig.store.fills_of(i)]
        for venue in VENUES:
            assert got["volume"][venue] == pytest.approx(float(costs.volume[venue]))
            for liquidity, maker in (("maker", True), ("taker", False)):
                fees = [f.fee for f in fills if f.venue == venue and f.maker is maker]
                assert got["fees"][venue, liquidity] == pytest.approx(float(sum(fees, D(0))))
        assert sum(got["funding"].values()) == pytest.approx(float(costs.funding))
        assert sum(got["slippage"].values()) == pytest.approx(float(costs.slippage))
        assert got["pnl"] == pytest.approx(float(costs.realized_pnl))
    funding = costs_by_venue(s)["funding"]
    assert funding[ASTER] > 0 > funding[BACKPACK]  # the short received, the long paid
    # a restarted daemon counts from zero: the rounds finished before it are not counted again
    restarted = Metrics(rig.store)
    restarted.refresh()
    for venue in VENUES:
        sample = restarted.registry.get_sample_value("hedged_volume_usdt_total", {"venue": venue})
        assert sample == 0


def costs_by_venue(s: Samples) -> dict[str, Any]:
    """The cost counters of one scrape, each signed pair netted."""

    def net(plus: str, minus: str, **labels: str) -> float:
        return value(s, plus, **labels) - value(s, minus, **labels)

    return {
        "volume": {v: value(s, "hedged_volume_usdt_total", venue=v) for v in VENUES},
        "fees": {
            (v, liq): net(
                "hedged_fees_paid_usdt_total",
                "hedged_fee_rebates_usdt_total",
                venue=v,
                liquidity=liq,
            )
            for v in VENUES
            for liq in ("maker", "taker")
        },
        "funding": {
            v: net("hedged_funding_received_usdt_total", "hedged_funding_paid_usdt_total", venue=v)
            for v in VENUES
        },
        "slippage": {
            v: net("hedged_slippage_usdt_total", "hedged_price_improvement_usdt_total", venue=v)
            for v in VENUES
        },
        "pnl": net("hedged_realized_profit_usdt_total", "hedged_realized_loss_usdt_total"),
    }
