"""Webhook alerts, received by a real aiohttp server on 127.0.0.1, from rounds driven through
the real engine on the simulator (tests/roundkit.py). A webhook that is down or hangs never
holds the engine up; deliveries are retried with backoff."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from roundkit import ASTER, BACKPACK, START, D, Rig, settle

from hedged import config
from hedged.alerts import Alerts, Webhook
from hedged.config import ConfigError
from hedged.engine import Engine
from hedged.model import OrderRequest, OrderType, Side
from hedged.observe import Observers, observed_venues

EVENT_KEYS = {"event", "round", "reason", "at"}


class Receiver:
    """A webhook endpoint: records every request; answers with `answers` in turn (a status,
    or "hang": never answer), then 200."""

    def __init__(self, answers: list[int | str] | None = None, *, hang: bool = False) -> None:
        self.answers = list(answers or [])
        self.hang = hang
        self.bodies: list[dict[str, Any]] = []
        self.content_types: list[str] = []
        self.hanging = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.content_types.append(request.content_type)
        self.bodies.append(await request.json())
        answer = self.answers.pop(0) if self.answers else ("hang" if self.hang else 200)
        if answer == "hang":
            self.hanging += 1
            await self._release.wait()
            return web.Response(status=200)
        assert isinstance(answer, int)
        return web.Response(status=answer)

    @property
    def events(self) -> list[str]:
        return [b["event"] for b in self.bodies]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hooks/t0ken-in-path", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hooks/t0ken-in-path"
        return self.url

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def start_alerted(rig: Rig, webhook: Webhook) -> Engine:
    """Like Rig.start, with alerts wired as `hedged run` wires them."""
    webhook.start()
    observer = Observers(Alerts(webhook, rig.config, rig.store))
    rig.engine = Engine(
        rig.config, rig.store, observed_venues(rig.venues, observer), observer=observer
    )
    await rig.engine.start()
    await settle()
    return rig.engine


def check_shape(body: dict[str, Any]) -> None:
    assert set(body) >= EVENT_KEYS
    offset = datetime.fromisoformat(body["at"]).utcoffset()
    assert offset is not None and offset.total_seconds() == 0  # UTC


async def test_stop_loss_done_and_daily_loss_limit(tmp_path: Path, receiver: Receiver) -> None:
    rig = Rig(tmp_path, mode="single", daily_loss_limit_usdt="0.01")
    webhook = Webhook(receiver.url)
    try:
        await start_alerted(rig, webhook)
        await rig.tick()
        await rig.until("MONITORING")
        await rig.move("99.1")  # the long loses > 0.8 %: stopped out
        await rig.until("LIMIT_SET")
        await rig.move("101.0")  # then the short too
        r = await rig.until("DONE")
        await until(lambda: len(receiver.bodies) == 3)
    finally:
        await webhook.close()
        await rig.stop()
    assert r.realized_pnl is not None and r.realized_pnl < D("-0.01")
    assert receiver.events == ["stop_loss", "round_done", "daily_loss_limit"]
    assert receiver.content_types == ["application/json"] * 3
    for body in receiver.bodies:
        check_shape(body)
        assert body["round"] == 1
    stop, done, limit = receiver.bodies
    assert stop["reason"].startswith("stop-loss on backpack at -")
    assert (stop["from"], stop["to"]) == ("MONITORING", "LIMIT_SET")
    assert done["reason"] == "stop-loss on both legs (aster last)"
    assert D(done["realized_pnl"]) == r.realized_pnl  # exact decimal strings, not floats
    assert D(done["fees"]) == r.fees and D(done["volume"]) == r.volume
    assert D(limit["pnl_today"]) == r.realized_pnl and limit["limit"] == "0.01"
    assert "daily loss limit" in limit["reason"]


async def test_halted_round_alerts(tmp_path: Path, receiver: Receiver) -> None:
    rig = Rig(tmp_path, mode="single")
    webhook = Webhook(receiver.url)
    try:
        engine = await start_alerted(rig, webhook)
        await rig.tick()
        await rig.until("MONITORING")
        foreign = OrderRequest(
            "manual-1", rig.world.symbols[ASTER], Side.SELL, OrderType.MARKET, D(1)
        )
        rig.world.venues[ASTER].place("test", foreign)  # exposure the daemon cannot explain
        await engine.recover()
        assert rig.state() == "HALTED"
        await until(lambda: len(receiver.bodies) == 2)
    finally:
        await webhook.close()
        await rig.stop()
    assert receiver.events == ["reconcile_unclean", "round_halted"]
    unclean, halted = receiver.bodies
    for body in receiver.bodies:
        check_shape(body)
    assert unclean["round"] is None
    assert unclean["mismatches"] == {"aster:SOLUSDT": {"venue": "-1.24", "expected": "-0.24"}}
    assert halted["round"] == 1 and halted["from"] == "MONITORING" and halted["to"] == "HALTED"
    assert "aster SOLUSDT position -1.24, rounds expect -0.24" in halted["reason"]


async def test_a_refused_backstop_alerts_unprotected(tmp_path: Path, receiver: Receiver) -> None:
    rig = Rig(tmp_path, mode="single")
    webhook = Webhook(receiver.url)
    try:
        await start_alerted(rig, webhook)
        await rig.tick()
        await rig.until("MONITORING")
        exchange, account = rig.world.venues[ASTER], rig.venues[ASTER].account
        (backstop,) = exchange.open_orders(account, rig.world.symbols[ASTER])
        exchange.cancel(account, backstop.symbol, client_id=backstop.client_id)
        rig.venues[ASTER].faults.arm("place", "reject")  # the one placed again is refused
        await rig.until("DONE", ticks=100)
        await until(lambda: "round_done" in receiver.events)
    finally:
        await webhook.close()
        await rig.stop()
    assert receiver.events == ["unprotected", "round_done"]
    unprotected = receiver.bodies[0]
    check_shape(unprotected)
    assert (unprotected["from"], unprotected["to"]) == ("MONITORING", "CLOSING")
    assert unprotected["reason"].startswith("aster refused the backstop")


async def run_round(rig: Rig) -> None:
    """Open, stop the short, take profit on the long: DONE, within a bounded time."""
    async with asyncio.timeout(60):
        await rig.tick()
        await rig.until("MONITORING")
        await rig.move("100.9")
        await rig.until("LIMIT_SET")
        await rig.move("101.5")
        await rig.until("DONE")


async def test_a_hanging_webhook_does_not_hold_up_the_engine(tmp_path: Path) -> None:
    receiver = Receiver(hang=True)  # takes every request, never answers
    await receiver.start()
    rig = Rig(tmp_path, mode="single")
    webhook = Webhook(receiver.url, timeout=3600)
    try:
        await start_alerted(rig, webhook)
        await run_round(rig)  # finishes while the first alert is still in delivery
        await until(lambda: receiver.hanging == 1)
        assert rig.state() == "DONE"
        assert receiver.events == ["stop_loss"] and webhook.delivered == 0
        assert webhook.queue.qsize() == 1  # round_done waits its turn, off the loop's path
        await rig.check_invariants()
        async with asyncio.timeout(10):  # shutdown waits a bounded time, then gives up
            await webhook.close(flush_seconds=0.1)
    finally:
        await webhook.close()
        await rig.stop()
        await receiver.stop()


async def test_a_down_webhook_is_retried_then_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/hooks/t0ken-in-path"
    rig = Rig(tmp_path, mode="single")
    webhook = Webhook(url, attempts=3, first_backoff=0.01)
    caplog.set_level(logging.INFO, logger="hedged.alerts")
    try:
        await start_alerted(rig, webhook)
        await run_round(rig)
        await rig.check_invariants()
        await until(lambda: webhook.failed == 2)
    finally:
        await webhook.close()
        await rig.stop()
    assert webhook.delivered == 0
    retries = [m for m in caplog.messages if "attempt" in m and "retrying" in m]
    assert len(retries) == 4  # two alerts, attempts 1 and 2 of 3
    gave_up = [m for m in caplog.messages if m.startswith("webhook: gave up")]
    assert gave_up == [
        "webhook: gave up on stop_loss alert of round 1 after 3 attempts: ClientConnectorError",
        "webhook: gave up on round_done alert of round 1 after 3 attempts: ClientConnectorError",
    ]
    assert "t0ken" not in caplog.text  # the URL (and its token) is never logged


async def test_retries_with_backoff_until_delivered() -> None:
    receiver = Receiver([503, 429, 200])
    await receiver.start()
    webhook = Webhook(receiver.url, first_backoff=0.01)
    webhook.start()
    try:
        webhook.post("round_done", 7, "time limit", realized_pnl="0.5")
        await until(lambda: webhook.delivered == 1)
    finally:
        await webhook.close()
        await receiver.stop()
    assert len(receiver.bodies) == 3
    assert receiver.bodies[0] == receiver.bodies[1] == receiver.bodies[2]  # the same alert
    assert webhook.failed == 0


async def test_a_refused_alert_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver([400])
    await receiver.start()
    webhook = Webhook(receiver.url, first_backoff=0.01)
    webhook.start()
    try:
        webhook.post("stop_loss", 3, "stop-loss on aster at -0.9%")
        await until(lambda: webhook.failed == 1)
    finally:
        await webhook.close()
        await receiver.stop()
    assert len(receiver.bodies) == 1
    assert "gave up on stop_loss alert of round 3 after 1 attempts: HTTP 400" in caplog.text


async def test_a_full_queue_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    webhook = Webhook("http://127.0.0.1:9/x", queue_size=2)  # not started: nothing drains
    for n in (1, 2, 3):
        webhook.post("round_done", n, "time limit")  # never waits
    assert webhook.dropped == 1
    kept = [webhook.queue.get_nowait()["round"] for _ in range(2)]
    assert kept == [2, 3]
    assert "webhook queue full (2): dropped the oldest alert, round_done of round 1" in caplog.text


async def test_venue_down_then_up(tmp_path: Path, receiver: Receiver) -> None:
    rig = Rig(tmp_path, mode="single", max_price_age_seconds="0.05")
    rig.config = replace(rig.config, alerts=replace(rig.config.alerts, venue_down_seconds=D("0.3")))
    rig.store.set_meta("paused", "1")  # no round: only the venue is watched here
    webhook = Webhook(receiver.url)
    try:
        await start_alerted(rig, webhook)
        rig.venues[BACKPACK].faults.arm("quotes", "stale", times=None)  # the stream goes quiet
        rig.venues[BACKPACK].faults.arm("quote", "error_5xx", times=None)  # and REST fails

        async def until(event: str, stream: bool) -> None:
            async with asyncio.timeout(15):
                while event not in receiver.events:
                    if stream:  # Aster's prices keep coming by its stream, not only by REST
                        rig.world.set_price(START)
                    await rig.tick()
                    await asyncio.sleep(0.02)

        await until("venue_down", stream=True)
        rig.venues[BACKPACK].faults.clear()
        await until("venue_up", stream=False)  # Backpack's stale quote is read by REST again
    finally:
        await webhook.close()
        await rig.stop()
    assert receiver.events == ["venue_down", "venue_up"]  # once each, Aster never
    down, up = receiver.bodies
    check_shape(down)
    assert down["venue"] == BACKPACK and down["round"] is None and down["seconds"] >= 0.3
    assert "venue_down_seconds 0.3" in down["reason"]
    assert up["venue"] == BACKPACK


def test_alerts_config(tmp_path: Path) -> None:
    cfg = config.defaults()
    assert cfg.alerts.webhook_url == "" and cfg.alerts.venue_down_seconds == D(60)
    url = "https://hooks.example.com/services/T000/B000/s3cr3t-t0ken?key=abc"
    cfg = config.load(None, overrides={"alerts.webhook_url": url})
    assert cfg.alerts.webhook_url == url
    assert "s3cr3t" not in repr(cfg) and "hooks.example.com" in repr(cfg.alerts)
    for bad in ("ftp://hooks.example.com/s3cr3t", "hooks.example.com/s3cr3t", "https:///s3cr3t"):
        with pytest.raises(ConfigError, match=r"alerts\.webhook_url") as e:
            config.load(None, overrides={"alerts.webhook_url": bad})
        assert "s3cr3t" not in str(e.value)  # never echoed
    for bad_seconds in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match=r"alerts\.venue_down_seconds"):
            config.load(None, overrides={"alerts.venue_down_seconds": bad_seconds})
    path = tmp_path / "hedged.toml"
    path.write_text(
        "[strategy]\nposition_size_usdt = 25\n"
        "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
        f"[alerts]\nwebhook_url = '{url}'\nvenue_down_seconds = 90\n[metrics]\nport = 9464\n"
    )
    cfg = config.load(path)
    assert cfg.alerts.venue_down_seconds == D(90) and cfg.metrics.port == 9464
