"""Backpack's WebSocket (docs/venues/backpack.md#streams) on the server root: SUBSCRIBE/UNSUBSCRIBE
frames, signed private streams, `{"stream", "data"}` pushes and server pings."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import WSCloseCode, web

from hedged.sim.backpack.auth import authenticate_ws
from hedged.sim.backpack.errors import BackpackError, bad_request
from hedged.sim.backpack.events import ORDER_UPDATE, POSITION_UPDATE, position_update
from hedged.sim.backpack.feeds import book_frames
from hedged.sim.backpack.limits import BackpackLimits
from hedged.sim.backpack.state import STATE, BackpackState, position_id
from hedged.sim.hub import Connection

PUBLIC_STREAMS = ("bookTicker", "markPrice", "trade")
PRIVATE_STREAMS = (ORDER_UPDATE, POSITION_UPDATE)
INVALID_REQUEST = 4000
INVALID_SIGNATURE = 4003
INVALID_STREAM = 4006
CLOSE_TIMEOUT = 2.0


async def websocket(request: web.Request) -> web.StreamResponse:
    venue = request.app[STATE]
    # autoping off: pongs are read to enforce the pong timeout; a silent client may hold a
    # close handshake for CLOSE_TIMEOUT at most.
    ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT)
    if not ws.can_prepare(request).ok:
        raise bad_request("Expected a WebSocket upgrade")
    await ws.prepare(request)
    connection = Connection(ws)
    await venue.hub.serve(
        connection,
        lambda text: _on_frame(venue, connection, text),
        _keep_alive(connection, venue.limits),
    )
    return ws


async def _keep_alive(connection: Connection, limits: BackpackLimits) -> None:
    """Ping every `ws_ping_seconds`; close when no pong came for `ws_pong_timeout`."""
    ws = connection.ws
    while not ws.closed:
        await asyncio.sleep(limits.ws_ping_seconds)
        if time.monotonic() - connection.last_pong > limits.ws_pong_timeout:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"pong timeout")
            return
        try:
            await ws.ping()
        except (ConnectionError, RuntimeError):
            return


def _on_frame(venue: BackpackState, connection: Connection, text: str) -> None:
    try:
        frame = json.loads(text)
    except ValueError:
        frame = None
    if not isinstance(frame, dict):
        _error(connection, None, INVALID_REQUEST, "Invalid request")
        return
    request_id = frame.get("id")
    method = str(frame.get("method", "")).upper()
    streams = frame.get("params")
    if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(streams, list):
        _error(connection, request_id, INVALID_REQUEST, "Invalid request")
        return
    names = [stream for stream in streams if isinstance(stream, str)]
    if len(names) != len(streams):
        _error(connection, request_id, INVALID_STREAM, "Invalid stream")
    if method == "UNSUBSCRIBE":
        for name in names:
            connection.subscriptions.pop(name, None)
    else:
        _subscribe(venue, connection, names, frame.get("signature"), request_id)


def _stream_kind(venue: BackpackState, stream: str) -> str | None:
    """Whether `stream` is "public" or "private"; None if this venue does not serve it."""
    if stream in PRIVATE_STREAMS:
        return "private"
    name, _, symbol = stream.rpartition(".")
    if symbol not in venue.exchange.markets:
        return None
    if name in PUBLIC_STREAMS:
        return "public"
    return "private" if name in PRIVATE_STREAMS else None


def _subscribe(
    venue: BackpackState,
    connection: Connection,
    streams: list[str],
    signature: object,
    request_id: object,
) -> None:
    """No answer on success; one error frame per refusal."""
    public: list[str] = []
    private: list[str] = []
    for stream in streams:
        kind = _stream_kind(venue, stream)
        if kind is None:
            _error(connection, request_id, INVALID_STREAM, "Invalid stream")
        else:
            (public if kind == "public" else private).append(stream)
    connection.subscriptions.update(dict.fromkeys(public))
    _send_books(venue, connection, public)
    if not private:
        return
    try:
        account = authenticate_ws(venue.accounts, signature, venue.now_ms())
    except BackpackError as refused:
        _error(connection, request_id, INVALID_SIGNATURE, refused.message)
        return
    for stream in private:
        connection.subscriptions[stream] = account
        if stream.startswith(POSITION_UPDATE):
            _send_positions(venue, connection, stream, account)


def _send_books(venue: BackpackState, connection: Connection, streams: list[str]) -> None:
    """The current book to a new price subscriber, so a client has a quote at once."""
    if venue.faults.stale:
        return
    for symbol in {stream.rpartition(".")[2] for stream in streams}:
        book = venue.exchange.book(symbol)
        for stream, data in (
            book_frames(venue, symbol, book, streams.__contains__) if book is not None else []
        ):
            connection.push(stream, data)


def _send_positions(
    venue: BackpackState, connection: Connection, stream: str, account: str
) -> None:
    """The open positions, without `e`, on subscribe."""
    symbol = stream[len(POSITION_UPDATE) + 1 :] or None
    now = venue.now_us()
    for position in venue.positions(account, symbol):
        mark = venue.mark(position.symbol)
        data = position_update(position, mark, position_id(account, position.symbol), now, None)
        connection.push(stream, data)


def _error(connection: Connection, request_id: object, code: int, message: str) -> None:
    connection.send({"id": request_id, "error": {"code": code, "message": message}})
