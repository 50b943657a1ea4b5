"""The venue's open WebSockets, what each subscribed to, and the fan-out of pushes.

Pushes come from synchronous listeners (the world, the exchange), so each connection queues
frames and a writer task sends them in order.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import WSCloseCode, web

from hedged.sim.backpack.shapes import Json


class Connection:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.public: set[str] = set()
        self.private: dict[str, str] = {}  # stream -> the account that signed for it
        self.last_pong = time.monotonic()
        self._outbox: asyncio.Queue[str] = asyncio.Queue()

    def send(self, frame: Json) -> None:
        self._outbox.put_nowait(json.dumps(frame, separators=(",", ":")))

    def error(self, request_id: object, code: int, message: str) -> None:
        self.send({"id": request_id, "error": {"code": code, "message": message}})

    async def write_loop(self) -> None:
        while True:
            text = await self._outbox.get()
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


class Hub:
    def __init__(self) -> None:
        self._connections: set[Connection] = set()

    def connect(self, ws: web.WebSocketResponse) -> Connection:
        connection = Connection(ws)
        self._connections.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        self._connections.discard(connection)

    def listening(self, stream: str) -> bool:
        return any(stream in c.public for c in self._connections)

    def publish(self, stream: str, data: Json) -> None:
        for connection in list(self._connections):
            if stream in connection.public:
                connection.send({"stream": stream, "data": data})

    def publish_private(self, account: str, stream: str, symbol: str, data: Json) -> None:
        """To every subscription of `account` to `stream` or `stream.<symbol>`."""
        for connection in list(self._connections):
            for name in (stream, f"{stream}.{symbol}"):
                if connection.private.get(name) == account:
                    connection.send({"stream": name, "data": data})

    async def close_all(self) -> int:
        """Close every socket with 1001 (going away); how many there were."""
        connections = list(self._connections)
        await asyncio.gather(
            *(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"disconnected") for c in connections)
        )
        return len(connections)
