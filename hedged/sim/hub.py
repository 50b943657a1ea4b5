"""A venue server's open WebSockets, what each subscribed to, and the fan-out of pushes.

Pushes come from synchronous listeners (the world, the exchange), so each connection queues
frames and a writer task sends them in order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

Json = dict[str, Any]
CLOSE_TIMEOUT_SECONDS = 2.0


class Connection:
    """One client socket. `subscriptions` maps each stream to the account that signed for it
    (None: a public stream); `combined` wraps pushes as `{"stream", "data"}`."""

    def __init__(self, ws: web.WebSocketResponse, *, combined: bool = True) -> None:
        self.ws = ws
        self.subscriptions: dict[str, str | None] = {}
        self.combined = combined
        self.last_pong = time.monotonic()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()

    def send(self, frame: Json) -> None:
        self._outbox.put_nowait(json.dumps(frame, separators=(",", ":")))

    def push(self, stream: str, data: Json) -> None:
        self.send({"stream": stream, "data": data} if self.combined else data)

    async def write_loop(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class Hub:
    def __init__(self) -> None:
        self.connections: set[Connection] = set()

    def wanted(self, *streams: str) -> bool:
        """Whether any connection follows one of these public streams (a push nobody reads
        is not built)."""
        return any(
            connection.subscriptions.get(stream, "") is None
            for connection in self.connections
            for stream in streams
        )

    def publish(self, stream: str, data: Json, account: str | None = None) -> None:
        """To every connection subscribed to `stream`, as `account` (None: publicly)."""
        for connection in list(self.connections):
            subscriptions = connection.subscriptions
            if stream in subscriptions and subscriptions[stream] == account:
                connection.push(stream, data)

    async def serve(
        self,
        connection: Connection,
        on_text: Callable[[str], None],
        *alongside: Coroutine[Any, Any, None],
    ) -> None:
        """Until the prepared socket closes: text frames to `on_text`, pings answered, pongs
        noted; the writer and `alongside` run meanwhile."""
        ws = connection.ws
        self.connections.add(connection)
        tasks = [asyncio.create_task(c) for c in (connection.write_loop(), *alongside)]
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    on_text(message.data)
                elif message.type is WSMsgType.PING:  # delivered only with autoping off
                    await ws.pong(message.data)
                elif message.type is WSMsgType.PONG:
                    connection.last_pong = time.monotonic()
        finally:
            self.connections.discard(connection)
            for task in tasks:
                task.cancel()

    async def close_all(self) -> int:
        """Close every socket with 1001 (going away); how many there were."""
        connections = list(self.connections)
        closes = [
            asyncio.ensure_future(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"disconnect"))
            for c in connections
        ]
        if closes:
            await asyncio.wait(closes, timeout=CLOSE_TIMEOUT_SECONDS)
        return len(connections)
