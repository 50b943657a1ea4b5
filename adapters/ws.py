"""The WebSocket transport both venue clients share: connecting with a heartbeat, decoded
frames, a silence watchdog, and the reconnect loop with back-off. A stream does not replay
what it missed while it was down, so each venue runs the reconnect hooks after every
*re*connection and the engine reconciles by REST there (docs/architecture.md#reconciliation).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from hedged.adapters.base import ReconnectHook, VenueError
from hedged.adapters.http import Backoff, describe
from hedged.wake import Alarm

log = logging.getLogger(__name__)

WS_CLOSE_TIMEOUT = 5.0
Socket = aiohttp.ClientWebSocketResponse
_DECODER = json.JSONDecoder(parse_float=Decimal)  # one for every frame, not one per frame


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """Connection, heartbeat, back-off and silence of one venue's streams. Each venue's
    `DEFAULT_STREAM_POLICY` suits the live venue; a field marked with a venue is read by that
    venue only."""

    connect_timeout: float = 10.0
    heartbeat: float = 30.0  # our ping period; no pong within half of it drops the socket
    backoff: float = 0.2  # first pause before reconnecting, doubling, with jitter
    backoff_max: float = 15.0
    # A socket that answers pings but brings no market data this long is reopened (a liquid
    # perp's bookTicker moves many times a second); private streams may be quiet for hours.
    silence: float | None = 60.0
    keepalive: float = 1800.0  # Aster: listenKey PUT period (the key lives 60 min)
    keepalive_retry: float = 60.0  # Aster: after a failed keep-alive
    latest_only_size: int = 64  # Backpack: price streams keep the newest updates only


class ReconnectHooks:
    """The callers' reconnect hooks; a coroutine hook runs as a task so the stream keeps
    flowing meanwhile, and a failing hook is logged, never raised into the stream."""

    def __init__(self, venue: str) -> None:
        self._venue = venue
        self._hooks: list[ReconnectHook] = []
        self._running: set[asyncio.Task[None]] = set()

    def add(self, hook: ReconnectHook) -> None:
        self._hooks.append(hook)

    def fire(self, stream: str) -> None:
        log.info("%s: %s reconnected", self._venue, stream)
        for hook in list(self._hooks):
            try:
                result = hook(stream)
            except Exception:
                log.exception("%s: reconnect hook failed for %s", self._venue, stream)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._guard(result, stream))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _guard(self, result: Awaitable[None], stream: str) -> None:
        try:
            await result
        except Exception:
            log.exception("%s: reconnect hook failed for %s", self._venue, stream)

    def cancel(self) -> None:
        for task in self._running:
            task.cancel()


async def connect(session: aiohttp.ClientSession, url: str, policy: StreamPolicy) -> Socket:
    async with asyncio.timeout(policy.connect_timeout):
        return await session.ws_connect(
            url,
            heartbeat=policy.heartbeat,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=WS_CLOSE_TIMEOUT),
        )


async def frames(ws: Socket, label: str) -> AsyncIterator[Any]:
    """Decoded JSON frames (numbers as Decimal) until the connection ends; an unreadable
    frame is logged and skipped."""
    while True:
        message = await ws.receive()
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            data = message.data
            try:
                yield _DECODER.decode(data.decode() if isinstance(data, bytes) else data)
            except (ValueError, UnicodeDecodeError, RecursionError):
                log.warning("%s sent an unreadable frame", label)
            continue
        if message.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
            continue
        return  # CLOSE, CLOSING, CLOSED or ERROR


class Watchdog:
    """Closes `ws` (its frames then end) once `heard()` has not been called for `limit`
    seconds while `applies()`; one timer per silence period, not a timeout per frame."""

    def __init__(
        self, ws: Socket, limit: float, label: str, applies: Callable[[], bool] = lambda: True
    ) -> None:
        self._ws = ws
        self._limit = limit
        self._label = label
        self._applies = applies
        self._closing: asyncio.Task[bool] | None = None
        self._alarm = Alarm(self._silent, limit)
        self._alarm.reset()

    def heard(self) -> None:
        self._alarm.reset()

    def _silent(self) -> None:
        if not self._applies():
            self._alarm.reset()
            return
        log.warning("%s: silent for %.1fs; reconnecting", self._label, self._limit)
        self._closing = asyncio.ensure_future(self._ws.close())

    async def stop(self) -> None:
        self._alarm.cancel()
        if self._closing is not None:
            await asyncio.gather(self._closing, return_exceptions=True)


class Connections:
    """Sockets one after another: `run` connects, hands the socket to its consumer, closes it
    when the consumer is done with it, and pauses with back-off before the next connection.
    `count` says how many were opened (so the consumer knows a *re*connection); `healthy()`
    (data arrived) resets the back-off."""

    def __init__(self, label: str, policy: StreamPolicy, closed: Callable[[], bool]) -> None:
        self.label = label
        self.count = 0
        self._closed = closed
        self._backoff = Backoff(policy.backoff, policy.backoff_max)

    def healthy(self) -> None:
        self._backoff.reset()

    async def run(
        self, open_socket: Callable[[], Awaitable[Socket]]
    ) -> AsyncGenerator[Socket, None]:
        while not self._closed():
            try:
                ws = await open_socket()
            except Exception as e:  # whatever it was, the stream must go on trying
                # str(e) of a failed handshake quotes the URL, which may hold a listen key
                reason = str(e) if isinstance(e, VenueError) else type(e).__name__
                log.warning(
                    "%s: connect failed (%s); retry in %.1fs", self.label, reason, self._pause
                )
                await self._backoff.wait()
                continue
            self.count += 1
            try:
                yield ws
            finally:
                await ws.close()
            if not self._closed():
                log.info("%s: down; reconnecting in %.1fs", self.label, self._pause)
                await self._backoff.wait()

    @property
    def _pause(self) -> float:
        return self._backoff.pause


def broke(label: str, error: BaseException, scrub: Callable[[str], str] = lambda t: t) -> None:
    """Log why a connection ended (with the traceback when it was not the network's doing);
    a stream must never die silently."""
    expected = isinstance(error, aiohttp.ClientError | OSError | VenueError)
    log.warning(
        "%s: broke (%s); reconnecting", label, scrub(describe(error)), exc_info=not expected
    )
