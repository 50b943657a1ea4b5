"""Backpack WebSocket (docs/venues/backpack.md#streams), on the shared transport
(`hedged.adapters.ws`): one connection carries every stream, opened by SUBSCRIBE frames
(private `account.*` ones signed), kept alive by answering the server's pings and sending our
own, and reopened with backoff when it drops. Streams do not replay what was missed, so every
reopening runs the reconnect hooks (the engine reconciles there)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import aiohttp

from hedged.adapters.base import ReconnectHook, VenueError
from hedged.adapters.fields import snippet
from hedged.adapters.ws import (
    Connections,
    ReconnectHooks,
    Socket,
    StreamPolicy,
    Watchdog,
    broke,
    connect,
    frames,
)

log = logging.getLogger(__name__)

INVALID_SIGNATURE = 4003
Signer = Callable[[], list[str]]  # a fresh `signature` array for a private SUBSCRIBE
_CLOSED = object()
DEFAULT_STREAM_POLICY = StreamPolicy(heartbeat=20.0, backoff=0.5, backoff_max=30.0)


class Subscription:
    """One consumer's queue of `data` payloads of its streams (one, or several on the one
    socket: every symbol's prices)."""

    def __init__(self, streams: tuple[str, ...], private: bool, size: int) -> None:
        self.streams = streams
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
        policy: StreamPolicy = DEFAULT_STREAM_POLICY,
        *,
        on_auth_error: Callable[[], Awaitable[None]] | None = None,
        scrub: Callable[[str], str] = lambda text: text,
        label: str = "backpack",
    ) -> None:
        self.url = url
        self.policy = policy
        self.connected = asyncio.Event()
        self._session = session
        self._signer = signer
        self._on_auth_error = on_auth_error
        self._scrub = scrub
        self._label = label
        self._subs: dict[str, list[Subscription]] = {}
        self._private: set[str] = set()
        self._hooks = ReconnectHooks(label)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ws: Socket | None = None
        self._watchdog: Watchdog | None = None
        self._runner: asyncio.Task[None] | None = None
        self._wanted = asyncio.Event()
        self._closed = False
        self._connections = Connections(label, policy, lambda: self._closed)

    def __repr__(self) -> str:
        return f"BackpackStream({self.url!r}, streams={sorted(self._subs)})"

    @property
    def connections(self) -> int:
        """Sockets opened so far."""
        return self._connections.count

    def on_reconnect(self, hook: ReconnectHook) -> None:
        self._hooks.add(hook)

    async def subscribe(
        self, *streams: str, private: bool = False, latest_only: bool = False
    ) -> Subscription:
        """One queue for `streams`; latest-only keeps the newest `latest_only_size` payloads
        of each stream's share."""
        if self._closed:
            raise VenueError("backpack stream is closed")
        size = self.policy.latest_only_size * len(streams) if latest_only else 0
        sub = Subscription(streams, private, size)
        new = [stream for stream in streams if stream not in self._subs]
        for stream in streams:
            self._subs.setdefault(stream, []).append(sub)
            if private:
                self._private.add(stream)
        if new and not private and self._watchdog is not None:
            self._watchdog.heard()  # its silence counts from now
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        self._wanted.set()
        # The runner subscribes to everything in _subs once it is connected; a socket that is
        # already up needs these streams sent now.
        ws = self._ws
        if new and ws is not None and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._send_subscribe(ws, new)
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        gone: list[str] = []
        for stream in sub.streams:
            subs = self._subs.get(stream)
            if subs is None or sub not in subs:
                continue
            subs.remove(sub)
            if not subs:
                del self._subs[stream]
                self._private.discard(stream)
                gone.append(stream)
        ws = self._ws
        if gone and ws is not None and not ws.closed:
            frame = {"method": "UNSUBSCRIBE", "params": gone}
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(frame))

    async def close(self) -> None:
        self._closed = True
        self._wanted.set()
        if self._ws is not None:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
                await self._ws.close()
        self._hooks.cancel()
        tasks = [t for t in (self._runner, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for subs in self._subs.values():
            for sub in subs:
                sub.put(_CLOSED)

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        async with aclosing(self._connections.run(self._connect)) as sockets:
            async for ws in sockets:
                try:
                    await self._connection(ws)
                except Exception as e:  # whatever broke it, a stream must never die silently
                    broke(self._label, e, self._scrub)

    async def _connect(self) -> Socket:
        while not self._subs:  # nothing to carry: no socket until something is subscribed
            self._wanted.clear()
            await self._wanted.wait()
            if self._closed:
                raise VenueError("backpack stream is closed")
        return await connect(self._session(), self.url, self.policy)

    async def _connection(self, ws: Socket) -> None:
        self._ws = ws  # before listing the streams: see subscribe()
        silence = self.policy.silence
        watchdog = None if silence is None else Watchdog(ws, silence, self._label, self._public)
        self._watchdog = watchdog
        try:
            streams = list(self._subs)
            await self._send_subscribe(ws, streams)
            if self.connections > 1:
                self._hooks.fire(f"{self._label} {'+'.join(sorted(streams))}")
            self.connected.set()
            resubscribed = False
            async for frame in frames(ws, self._label):
                if self._dispatch(frame) and not resubscribed:
                    resubscribed = True
                    self._spawn(self._fix_auth(ws))
        finally:
            self._watchdog = None
            if watchdog is not None:
                await watchdog.stop()
            self._ws = None
            self.connected.clear()

    def _public(self) -> bool:
        return any(stream not in self._private for stream in self._subs)

    async def _send_subscribe(self, ws: Socket, streams: list[str]) -> None:
        public = [s for s in streams if s not in self._private]
        private = [s for s in streams if s in self._private]
        if public:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": public}))
        if private:
            frame = {"method": "SUBSCRIBE", "params": private, "signature": self._signer()}
            await ws.send_str(json.dumps(frame))

    def _dispatch(self, frame: Any) -> bool:
        """Hand a frame to its subscribers; True when the venue refused our signature."""
        if not isinstance(frame, dict):
            return False
        stream = frame.get("stream")
        if isinstance(stream, str) and "data" in frame:
            self._connections.healthy()
            if stream not in self._private and self._watchdog is not None:
                self._watchdog.heard()
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

    async def _fix_auth(self, ws: Socket) -> None:
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

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
