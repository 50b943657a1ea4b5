"""Backpack WebSocket (docs/venues/backpack.md#streams): one connection carries every stream,
opened by SUBSCRIBE frames (private `account.*` ones signed), kept alive by answering the
server's pings and sending our own, and reopened with backoff when it drops. Streams do not
replay what was missed, so every reopening runs the reconnect hooks (the engine reconciles
there)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from hedged.adapters.backpack.wire import snippet
from hedged.adapters.base import ReconnectHook, VenueError

log = logging.getLogger(__name__)

INVALID_SIGNATURE = 4003
Signer = Callable[[], list[str]]  # a fresh `signature` array for a private SUBSCRIBE
_CLOSED = object()
_DECODER = json.JSONDecoder(parse_float=Decimal)  # one for every frame, not one per frame


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    heartbeat: float = 20.0  # our ping period; no pong within half of it drops the socket
    connect_timeout: float = 10.0
    backoff: float = 0.5
    max_backoff: float = 30.0
    latest_only_size: int = 64  # price streams keep the newest updates, dropping the oldest
    # A socket that answers pings but brings no market data this long is reopened (a liquid
    # perp's bookTicker moves many times a second); private streams may be quiet for hours.
    silence: float | None = 60.0


class Subscription:
    """One consumer's queue of `data` payloads of one stream."""

    def __init__(self, stream: str, private: bool, size: int) -> None:
        self.stream = stream
        self.private = private
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=size)

    def put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()

    async def get(self) -> Any | None:
        """The next payload; None once the stream is closed."""
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # stays closed for every later get
            return None
        return item


class BackpackStream:
    def __init__(
        self,
        url: str,
        session: Callable[[], aiohttp.ClientSession],
        signer: Signer,
        policy: StreamPolicy = StreamPolicy(),
        *,
        on_auth_error: Callable[[], Awaitable[None]] | None = None,
        scrub: Callable[[str], str] = lambda text: text,
        label: str = "backpack",
    ) -> None:
        self.url = url
        self.policy = policy
        self.connections = 0  # sockets opened so far
        self.connected = asyncio.Event()
        self._session = session
        self._signer = signer
        self._on_auth_error = on_auth_error
        self._scrub = scrub
        self._label = label
        self._last_public = time.monotonic()
        self._subs: dict[str, list[Subscription]] = {}
        self._private: set[str] = set()
        self._hooks: list[ReconnectHook] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._runner: asyncio.Task[None] | None = None
        self._wanted = asyncio.Event()
        self._healthy = False
        self._closed = False

    def __repr__(self) -> str:
        return f"BackpackStream({self.url!r}, streams={sorted(self._subs)})"

    def on_reconnect(self, hook: ReconnectHook) -> None:
        self._hooks.append(hook)

    async def subscribe(
        self, stream: str, *, private: bool = False, latest_only: bool = False
    ) -> Subscription:
        if self._closed:
            raise VenueError("backpack stream is closed")
        sub = Subscription(stream, private, self.policy.latest_only_size if latest_only else 0)
        first = stream not in self._subs
        self._subs.setdefault(stream, []).append(sub)
        if private:
            self._private.add(stream)
        elif first:
            self._last_public = time.monotonic()  # its silence counts from now
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        self._wanted.set()
        # The runner subscribes to everything in _subs once it is connected; a socket that is
        # already up needs this stream sent now.
        ws = self._ws
        if first and ws is not None and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._send_subscribe(ws, [stream])
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.stream)
        if subs is None or sub not in subs:
            return
        subs.remove(sub)
        if subs:
            return
        del self._subs[sub.stream]
        self._private.discard(sub.stream)
        ws = self._ws
        if ws is not None and not ws.closed:
            frame = {"method": "UNSUBSCRIBE", "params": [sub.stream]}
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(frame))

    async def close(self) -> None:
        self._closed = True
        self._wanted.set()
        if self._ws is not None:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._ws.close()
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for subs in self._subs.values():
            for sub in subs:
                sub.put(_CLOSED)

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            if not self._subs:
                self._wanted.clear()
                await self._wanted.wait()
                continue
            self._healthy = False
            try:
                await self._connection()
            except Exception as e:  # whatever broke it, a stream must never die silently
                log.warning("backpack stream broke: %s", self._scrub(_describe(e)))
            if self._closed:
                return
            if self._healthy:
                attempt = 0
            delay = min(self.policy.backoff * 2**attempt, self.policy.max_backoff)
            attempt += 1
            log.info("backpack stream down; reconnecting in %.1fs", delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _connection(self) -> None:
        ws = await asyncio.wait_for(
            self._session().ws_connect(
                self.url,
                heartbeat=self.policy.heartbeat,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            ),
            self.policy.connect_timeout,
        )
        self._ws = ws  # before listing the streams: see subscribe()
        watchdog = asyncio.create_task(self._watch_silence(ws))
        try:
            streams = list(self._subs)
            await self._send_subscribe(ws, streams)
            self._last_public = time.monotonic()
            self.connections += 1
            if self.connections > 1:
                self._run_hooks(f"{self._label} {'+'.join(sorted(streams))}")
            self.connected.set()
            resubscribed = False
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    if self._dispatch(message.data) and not resubscribed:
                        resubscribed = True
                        self._spawn(self._fix_auth(ws))
                elif message.type is aiohttp.WSMsgType.ERROR:
                    break
        finally:
            watchdog.cancel()
            self._ws = None
            self.connected.clear()
            await ws.close()

    async def _watch_silence(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        limit = self.policy.silence
        if limit is None:
            return
        while not ws.closed:
            await asyncio.sleep(limit / 4)
            public = any(stream not in self._private for stream in self._subs)
            if public and time.monotonic() - self._last_public > limit:
                log.warning("backpack stream: no market data for %.1fs; reconnecting", limit)
                await ws.close()
                return

    async def _send_subscribe(
        self, ws: aiohttp.ClientWebSocketResponse, streams: list[str]
    ) -> None:
        public = [s for s in streams if s not in self._private]
        private = [s for s in streams if s in self._private]
        if public:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": public}))
        if private:
            frame = {"method": "SUBSCRIBE", "params": private, "signature": self._signer()}
            await ws.send_str(json.dumps(frame))

    def _dispatch(self, text: str) -> bool:
        """Hand a frame to its subscribers; True when the venue refused our signature."""
        try:
            frame = _DECODER.decode(text)
        except (ValueError, RecursionError):
            log.debug("backpack stream: not JSON: %r", self._scrub(snippet(text)))
            return False
        if not isinstance(frame, dict):
            return False
        stream = frame.get("stream")
        if isinstance(stream, str) and "data" in frame:
            self._healthy = True
            if stream not in self._private:
                self._last_public = time.monotonic()
            for sub in self._subs.get(stream, ()):
                sub.put(frame["data"])
            return False
        error = frame.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            text = self._scrub(snippet(f"{code} {message}"))
            log.warning("backpack stream refused: %s", text)
            return code == INVALID_SIGNATURE and bool(self._private)
        return False

    async def _fix_auth(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """A refused private subscription: the clock may have drifted; resync, sign again
        (once per socket, so a wrong key does not loop)."""
        if self._on_auth_error is not None:
            try:
                await self._on_auth_error()
            except VenueError as e:
                log.warning("backpack stream: clock resync failed: %s", e)
        private = [s for s in self._subs if s in self._private]
        if private and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._send_subscribe(ws, private)

    def _run_hooks(self, label: str) -> None:
        """Every hook, with the streams the new socket carries; a coroutine runs as a task so
        the stream keeps flowing meanwhile."""
        log.info("%s reconnected", label)
        for hook in list(self._hooks):
            try:
                result = hook(label)
            except Exception:
                log.exception("backpack reconnect hook failed")
                continue
            if inspect.isawaitable(result):
                self._spawn(self._await_hook(result))

    async def _await_hook(self, result: Awaitable[None]) -> None:
        try:
            await result
        except Exception:
            log.exception("backpack reconnect hook failed")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    text = snippet(str(error))
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
