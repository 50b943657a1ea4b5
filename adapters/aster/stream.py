"""Aster WebSockets: the `<symbol>@bookTicker` market stream and the user-data stream
(listenKey: create, keep alive, reconnect), both reconnecting with back-off by themselves.

A stream does not replay what it missed while it was down: after every *re*connection the
registered reconnect hooks run, so the engine can reconcile by REST
(docs/architecture.md#reconciliation).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from hedged.adapters.aster.http import ApiError, AsterHttp, Security
from hedged.adapters.aster.wire import (
    INVALID_LISTEN_KEY,
    WireError,
    book_quote,
    listen_key,
    order_update,
    stream_payload,
)
from hedged.adapters.base import ReconnectHook, VenueError
from hedged.model import OrderState, Quote
from hedged.wake import Alarm

log = logging.getLogger(__name__)

USER_STREAM = "user"
MAX_TRACKED_ORDERS = 4096


@dataclass(frozen=True, slots=True)
class StreamTuning:
    connect_timeout: float = 10.0
    heartbeat: float = 30.0  # our ping period; a missing pong drops the connection
    backoff: float = 0.2  # first pause before reconnecting, doubling
    backoff_max: float = 15.0
    quote_silence: float = 60.0  # a quote stream silent this long is reconnected
    keepalive: float = 1800.0  # listenKey PUT period (the official demo's 30 min; key lives 60)
    keepalive_retry: float = 60.0  # after a failed keep-alive


class ReconnectHooks:
    def __init__(self) -> None:
        self._hooks: list[ReconnectHook] = []
        self._running: set[asyncio.Task[None]] = set()

    def add(self, hook: ReconnectHook) -> None:
        self._hooks.append(hook)

    def fire(self, stream: str) -> None:
        """Run every hook; coroutines run as tasks so the stream keeps flowing meanwhile."""
        for hook in self._hooks:
            try:
                result = hook(stream)
            except Exception:
                log.exception("aster: reconnect hook failed for %s", stream)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._guard(result, stream))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    @staticmethod
    async def _guard(result: Awaitable[None], stream: str) -> None:
        try:
            await result
        except Exception:
            log.exception("aster: reconnect hook failed for %s", stream)

    def cancel(self) -> None:
        for task in self._running:
            task.cancel()


_DECODER = json.JSONDecoder(parse_float=Decimal)  # one for every frame, not one per frame


def _json(text: str) -> Any:
    return _DECODER.decode(text)


async def _connect(
    session: aiohttp.ClientSession, url: str, tuning: StreamTuning
) -> aiohttp.ClientWebSocketResponse:
    async with asyncio.timeout(tuning.connect_timeout):
        return await session.ws_connect(url, heartbeat=tuning.heartbeat, autoping=True)


async def _frames(
    ws: aiohttp.ClientWebSocketResponse, silence: float | None, label: str
) -> AsyncIterator[Any]:
    """Decoded JSON frames until the connection ends or stays silent for `silence` s."""
    closing: list[asyncio.Task[bool]] = []

    def silent() -> None:  # the connection is closed: `receive` returns, the frames end
        log.warning("aster: %s silent for %.0fs; reconnecting", label, silence)
        closing.append(asyncio.ensure_future(ws.close()))

    # one timer per silence period, not a timeout per frame
    alarm = None if silence is None else Alarm(silent, silence)
    try:
        while not closing:
            if alarm is not None:
                alarm.reset()
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                data = message.data
                try:
                    yield _json(data.decode() if isinstance(data, bytes) else data)
                except (ValueError, UnicodeDecodeError):
                    log.warning("aster: %s sent an unreadable frame", label)
                continue
            if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            return  # CLOSE, CLOSING, CLOSED or ERROR
    finally:
        if alarm is not None:
            alarm.cancel()
        await asyncio.gather(*closing, return_exceptions=True)


class Backoff:
    def __init__(self, tuning: StreamTuning) -> None:
        self._tuning = tuning
        self.pause = tuning.backoff

    def reset(self) -> None:
        self.pause = self._tuning.backoff

    async def wait(self) -> None:
        await asyncio.sleep(self.pause)
        self.pause = min(self.pause * 2, self._tuning.backoff_max)


async def quote_stream(
    http: AsterHttp,
    ws_base: str,
    venue: str,
    symbol: str,
    tuning: StreamTuning,
    hooks: ReconnectHooks,
    closed: Callable[[], bool],
    snapshot: Callable[[], Awaitable[Quote]],
) -> AsyncGenerator[Quote, None]:
    """Quotes from `<symbol>@bookTicker`, forever (until the venue closes), reconnecting.

    Each connection starts with a REST `snapshot()`: the stream pushes only changes, so a
    change made while it was down would otherwise stay unseen until the next one."""
    url = f"{ws_base.rstrip('/')}/ws/{symbol.lower()}@bookTicker"
    label = f"quotes:{symbol}"
    backoff = Backoff(tuning)
    connected_before = False
    while not closed():
        try:
            ws = await _connect(http.session, url, tuning)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            why = type(e).__name__
            log.warning("aster: %s connect failed (%s); retry in %.1fs", label, why, backoff.pause)
            await backoff.wait()
            continue
        try:
            if connected_before:
                log.info("aster: %s reconnected", label)
                hooks.fire(label)
            connected_before = True
            try:
                yield await asyncio.wait_for(snapshot(), tuning.connect_timeout)
            except (VenueError, TimeoutError) as e:
                log.warning("aster: %s: no snapshot after connecting (%s)", label, e)
            async for frame in _frames(ws, tuning.quote_silence, label):
                try:
                    quote = book_quote(venue, stream_payload(frame), time.monotonic())
                except WireError:
                    continue  # subscription acks and other events
                if quote.symbol == symbol:
                    backoff.reset()
                    yield quote
        except (aiohttp.ClientError, OSError) as e:
            log.warning("aster: %s broke (%s); reconnecting", label, type(e).__name__)
        finally:
            await ws.close()
        if not closed():
            await backoff.wait()


class UserStream:
    """ORDER_TRADE_UPDATE events as OrderState, fanned out to every `updates()` iterator.

    Started by the first subscriber; one listenKey, kept alive every `keepalive` seconds and
    replaced when it lapses. Out-of-order events (the venue says to order them by `E`) never
    move an order backwards: an update with less filled, or live after terminal, is dropped.
    """

    def __init__(
        self,
        http: AsterHttp,
        ws_base: str,
        tuning: StreamTuning,
        hooks: ReconnectHooks,
        closed: Callable[[], bool],
    ) -> None:
        self._http = http
        self._ws_base = ws_base.rstrip("/")
        self._tuning = tuning
        self._hooks = hooks
        self._closed = closed
        self._subscribers: set[asyncio.Queue[OrderState]] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: OrderedDict[str, tuple[Decimal, bool]] = OrderedDict()

    def __repr__(self) -> str:
        return f"UserStream(subscribers={len(self._subscribers)})"  # never the listen key

    async def updates(self) -> AsyncGenerator[OrderState, None]:
        queue: asyncio.Queue[OrderState] = asyncio.Queue()
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="aster-user-stream")
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def close(self) -> None:
        """Stop the stream. The listen key is left to lapse (60 min) rather than deleted: the
        venue hands the same key to every client of the account, e.g. a restarted daemon."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _open_key(self) -> str:
        path = self._http.signer.paths.listen_key
        return listen_key(await self._http.read("POST", path, security=Security.STREAM))

    async def _run(self) -> None:
        backoff = Backoff(self._tuning)
        connected_before = False
        while not self._closed():
            try:
                key = await self._open_key()
                ws = await _connect(self._http.session, f"{self._ws_base}/ws/{key}", self._tuning)
            except (VenueError, aiohttp.ClientError, TimeoutError, OSError) as e:
                # str(e) of a failed handshake quotes the URL, which holds the listen key
                reason = str(e) if isinstance(e, VenueError) else type(e).__name__
                log.warning(
                    "aster: user stream connect failed (%s); retry in %.1fs", reason, backoff.pause
                )
                await backoff.wait()
                continue
            keepalive = asyncio.create_task(self._keep_alive(ws))
            try:
                if connected_before:
                    log.info("aster: user stream reconnected")
                    self._hooks.fire(USER_STREAM)
                connected_before = True
                backoff.reset()
                await self._consume(ws)
            except Exception:  # a stream that dies silently is the failure to avoid
                log.exception("aster: user stream broke; reconnecting")
            finally:
                keepalive.cancel()
                await ws.close()
            if not self._closed():
                await backoff.wait()

    async def _consume(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in _frames(ws, None, USER_STREAM):
            event = stream_payload(frame)
            if isinstance(event, dict) and event.get("e") == "listenKeyExpired":
                log.info("aster: listen key expired; reconnecting with a new one")
                return
            self._dispatch(event)

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        path = self._http.signer.paths.listen_key
        delay = self._tuning.keepalive
        while True:
            await asyncio.sleep(delay)
            try:
                await self._http.read("PUT", path, security=Security.STREAM)
            except ApiError as e:
                if e.code == INVALID_LISTEN_KEY:
                    log.warning("aster: listen key gone; reconnecting with a new one")
                    await ws.close()
                    return
                log.warning("aster: listen key keep-alive refused: %s", e)
                delay = self._tuning.keepalive_retry
            except VenueError as e:
                log.warning("aster: listen key keep-alive failed: %s", e)
                delay = self._tuning.keepalive_retry
            else:
                delay = self._tuning.keepalive

    def _dispatch(self, event: object) -> None:
        try:
            state = order_update(event)
        except WireError as e:
            log.warning("aster: unreadable ORDER_TRADE_UPDATE: %s", e)
            return
        if state is None:
            return
        rank = (state.filled_qty, state.status.terminal)
        last = self._seen.get(state.client_id)
        if last is not None and rank < last:
            return
        self._seen[state.client_id] = rank
        self._seen.move_to_end(state.client_id)
        while len(self._seen) > MAX_TRACKED_ORDERS:
            self._seen.popitem(last=False)
        for queue in self._subscribers:
            queue.put_nowait(state)
