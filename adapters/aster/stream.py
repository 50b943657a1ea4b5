"""Aster WebSockets, on the shared transport (`hedged.adapters.ws`): the `<symbol>@bookTicker`
market stream and the user-data stream (listenKey: create, keep alive, replace when it lapses),
both reconnecting with back-off by themselves and running the reconnect hooks after every
*re*connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from decimal import Decimal

import aiohttp

from hedged.adapters.aster.http import AsterHttp, Security
from hedged.adapters.aster.wire import (
    INVALID_LISTEN_KEY,
    book_quote,
    listen_key,
    order_update,
    stream_payload,
)
from hedged.adapters.base import VenueError
from hedged.adapters.errors import ApiError, WireError
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
from hedged.model import OrderState, Quote

log = logging.getLogger(__name__)

USER_STREAM = "user"
# An order's progress is remembered to drop its events that arrive out of order, which they do
# within moments of each other (the store refuses a state older than the one it holds in any
# case): the last 256 orders span far longer than that even for a daemon trading many pairs,
# and the memory (~300 B an order) is full within the first hundred rounds, not growing on.
MAX_TRACKED_ORDERS = 256
DEFAULT_STREAM_POLICY = StreamPolicy()


async def quote_stream(
    http: AsterHttp,
    ws_base: str,
    venue: str,
    symbols: Sequence[str],
    policy: StreamPolicy,
    hooks: ReconnectHooks,
    closed: Callable[[], bool],
    snapshot: Callable[[str], Awaitable[Quote]],
) -> AsyncGenerator[Quote, None]:
    """Quotes from each symbol's `<symbol>@bookTicker`, forever (until the venue closes),
    reconnecting: one raw stream for one symbol, one combined stream for several.

    Each connection starts with a REST `snapshot(symbol)` of each: the stream pushes only
    changes, so a change made while it was down would otherwise stay unseen until the next."""
    streams = [f"{symbol.lower()}@bookTicker" for symbol in symbols]
    base = ws_base.rstrip("/")
    url = (
        f"{base}/ws/{streams[0]}"
        if len(streams) == 1
        else f"{base}/stream?streams=" + "/".join(streams)
    )
    wanted = set(symbols)
    label = f"quotes:{'+'.join(symbols)}"
    connections = Connections(f"aster: {label}", policy, closed)
    async with aclosing(connections.run(lambda: connect(http.session, url, policy))) as sockets:
        async for ws in sockets:
            if connections.count > 1:
                hooks.fire(label)
            watchdog = None
            try:
                for symbol in symbols:
                    try:
                        yield await asyncio.wait_for(snapshot(symbol), policy.connect_timeout)
                    except (VenueError, TimeoutError) as e:
                        log.warning(
                            "aster: quotes:%s: no snapshot after connecting (%s)", symbol, e
                        )
                if policy.silence is not None:
                    watchdog = Watchdog(ws, policy.silence, f"aster: {label}")
                async for frame in frames(ws, label):
                    if watchdog is not None:
                        watchdog.heard()
                    try:
                        quote = book_quote(venue, stream_payload(frame), time.monotonic())
                    except WireError:
                        continue  # subscription acks and other events
                    if quote.symbol in wanted:
                        connections.healthy()
                        yield quote
            except (aiohttp.ClientError, OSError) as e:
                broke(connections.label, e)
            finally:
                if watchdog is not None:
                    await watchdog.stop()


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
        policy: StreamPolicy,
        hooks: ReconnectHooks,
        closed: Callable[[], bool],
    ) -> None:
        self._http = http
        self._ws_base = ws_base.rstrip("/")
        self._policy = policy
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
        connections = Connections("aster: user stream", self._policy, self._closed)
        async with aclosing(connections.run(self._connect)) as sockets:
            async for ws in sockets:
                if connections.count > 1:
                    self._hooks.fire(USER_STREAM)
                connections.healthy()
                keepalive = asyncio.create_task(self._keep_alive(ws))
                try:
                    await self._consume(ws)
                except Exception as e:  # a stream that dies silently is the failure to avoid
                    broke(connections.label, e)
                finally:
                    keepalive.cancel()

    async def _connect(self) -> Socket:
        key = await self._open_key()
        return await connect(self._http.session, f"{self._ws_base}/ws/{key}", self._policy)

    async def _consume(self, ws: Socket) -> None:
        async for frame in frames(ws, USER_STREAM):
            event = stream_payload(frame)
            if isinstance(event, dict) and event.get("e") == "listenKeyExpired":
                log.info("aster: listen key expired; reconnecting with a new one")
                return
            self._dispatch(event)

    async def _keep_alive(self, ws: Socket) -> None:
        path = self._http.signer.paths.listen_key
        delay = self._policy.keepalive
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
                delay = self._policy.keepalive_retry
            except VenueError as e:
                log.warning("aster: listen key keep-alive failed: %s", e)
                delay = self._policy.keepalive_retry
            else:
                delay = self._policy.keepalive

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
