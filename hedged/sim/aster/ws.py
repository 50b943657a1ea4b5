"""Aster's WebSocket: raw streams at /ws/<stream>, combined at /stream?streams=a/b, the user
stream at /ws/<listenKey>, live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS frames.

Events are pushed from the core's listeners (World for books, SimExchange for orders); each
connection has its own queue and writer so that events keep their order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from hedged.sim.accounts import WireFaults
from hedged.sim.aster.routes import next_funding
from hedged.sim.aster.shapes import (
    account_update,
    agg_trade,
    book_ticker,
    mark_price_update,
    ms,
    order_trade_update,
)
from hedged.sim.aster.state import AsterState, ListenKey, split_core
from hedged.sim.records import Book, SimFill, SimOrder

CLOSE_TIMEOUT_SECONDS = 1.0


class Connection:
    def __init__(self, ws: web.WebSocketResponse, streams: Iterable[str], combined: bool) -> None:
        self.ws = ws
        self.streams = set(streams)
        self.combined = combined
        self.queue: asyncio.Queue[str] = asyncio.Queue()

    def push(self, stream: str, event: dict[str, Any]) -> None:
        payload = {"stream": stream, "data": event} if self.combined else event
        self.queue.put_nowait(json.dumps(payload))

    def reply(self, frame: dict[str, Any]) -> None:
        self.queue.put_nowait(json.dumps(frame))

    async def write(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                await self.ws.send_str(text)
            except ConnectionError:
                return


class Hub:
    """Every WebSocket of one venue app, and what each is subscribed to."""

    def __init__(self, state: AsterState, faults: WireFaults, heartbeat: float) -> None:
        self.state = state
        self.faults = faults
        self.heartbeat = heartbeat
        self.connections: set[Connection] = set()
        self._stream = state.symbol.lower()
        state.exchange.add_listener(self._on_order)
        state.world.add_listener(self._on_book)
        state.key_expired.append(self._on_key_expired)

    def close(self) -> None:
        self.state.world.remove_listener(self._on_book)

    def publish(self, stream: str, event: dict[str, Any]) -> None:
        for connection in self.connections:
            if stream in connection.streams:
                connection.push(stream, event)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """/ws, /ws/<stream or listenKey>, /stream?streams=a/b."""
        combined = request.path.startswith("/stream")
        if combined:
            streams = [s for s in request.query.get("streams", "").split("/") if s]
        else:
            streams = [request.match_info["stream"]] if "stream" in request.match_info else []
        ws = web.WebSocketResponse(heartbeat=self.heartbeat)
        await ws.prepare(request)
        connection = Connection(ws, streams, combined)
        self.connections.add(connection)
        writer = asyncio.create_task(connection.write())
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    connection.reply(self.control(connection, message.data))
        finally:
            self.connections.discard(connection)
            writer.cancel()
        return ws

    def control(self, connection: Connection, text: str) -> dict[str, Any]:
        """Answer one live control frame (Binance's error codes: 2 bad request, 3 bad JSON)."""
        try:
            frame = json.loads(text)
        except ValueError as error:
            return {"code": 3, "msg": f"Invalid JSON: {error}"}
        if not isinstance(frame, dict):
            return {"code": 3, "msg": "Invalid JSON: expected an object"}
        ident, method, params = frame.get("id"), frame.get("method"), frame.get("params", [])
        if not isinstance(params, list):
            return {"code": 2, "msg": "Invalid request: params must be a list", "id": ident}
        match method:
            case "SUBSCRIBE" | "UNSUBSCRIBE" if all(isinstance(p, str) for p in params):
                if method == "SUBSCRIBE":
                    connection.streams.update(params)
                else:
                    connection.streams.difference_update(params)
                return {"result": None, "id": ident}
            case "LIST_SUBSCRIPTIONS":
                return {"result": sorted(connection.streams), "id": ident}
            case "SET_PROPERTY" if len(params) == 2 and params[0] == "combined":
                connection.combined = bool(params[1])
                return {"result": None, "id": ident}
            case "GET_PROPERTY" if params == ["combined"]:
                return {"result": connection.combined, "id": ident}
        return {"code": 2, "msg": f"Invalid request: {method} {params}", "id": ident}

    async def disconnect_all(self) -> int:
        """Close every socket (the WebSocket-disconnect fault; also on shutdown)."""
        connections = list(self.connections)
        closes = [
            asyncio.ensure_future(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"disconnect"))
            for c in connections
        ]
        if closes:
            await asyncio.wait(closes, timeout=CLOSE_TIMEOUT_SECONDS)
        return len(connections)

    def _on_book(self, venue: str, symbol: str, book: Book) -> None:
        state = self.state
        if venue != state.venue or state.closed or self.faults.stale:
            return
        now = state.clock()
        ticker = book_ticker(symbol, book, state.top_qty(), state.update_id, now)
        self.publish(f"{self._stream}@bookTicker", ticker)
        self.publish("!bookTicker", ticker)
        mark = mark_price_update(symbol, state.mark(), state.index(), next_funding(now), now)
        self.publish(f"{self._stream}@markPrice", mark)
        self.publish(f"{self._stream}@markPrice@1s", mark)

    def _on_order(self, order: SimOrder, fill: SimFill | None) -> None:
        state = self.state
        if state.closed or order.symbol != state.symbol:
            return
        now = state.clock()
        if fill is not None and not self.faults.stale:
            self.publish(f"{self._stream}@aggTrade", agg_trade(fill, now))
        account, _ = split_core(order.account)
        key = state.listen_key(account)
        if key is None:
            return
        self.publish(key, order_trade_update(state.view(order), fill, now))
        if fill is not None:
            balance = state.wallet(account).balance
            self.publish(key, account_update(balance, state.position_row(order.account), now))

    def _on_key_expired(self, key: ListenKey) -> None:
        event = {"e": "listenKeyExpired", "E": ms(self.state.clock()), "listenKey": key.key}
        self.publish(key.key, event)
