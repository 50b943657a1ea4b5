"""Aster's WebSocket: raw streams at /ws/<stream>, combined at /stream?streams=a/b, the user
stream at /ws/<listenKey>, live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS frames."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hedged.sim.hub import Connection, Hub


async def websocket(hub: Hub, heartbeat: float, request: web.Request) -> web.WebSocketResponse:
    """/ws, /ws/<stream or listenKey>, /stream?streams=a/b."""
    combined = request.path.startswith("/stream")
    if combined:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
    else:
        streams = [request.match_info["stream"]] if "stream" in request.match_info else []
    ws = web.WebSocketResponse(heartbeat=heartbeat)
    await ws.prepare(request)
    connection = Connection(ws, combined=combined)
    connection.subscriptions.update(dict.fromkeys(streams))
    await hub.serve(connection, lambda text: connection.send(control(connection, text)))
    return ws


def control(connection: Connection, text: str) -> dict[str, Any]:
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
    subscriptions = connection.subscriptions
    match method:
        case "SUBSCRIBE" | "UNSUBSCRIBE" if all(isinstance(p, str) for p in params):
            for stream in params:
                if method == "SUBSCRIBE":
                    subscriptions[stream] = None
                else:
                    subscriptions.pop(stream, None)
            return {"result": None, "id": ident}
        case "LIST_SUBSCRIPTIONS":
            return {"result": sorted(subscriptions), "id": ident}
        case "SET_PROPERTY" if len(params) == 2 and params[0] == "combined":
            connection.combined = bool(params[1])
            return {"result": None, "id": ident}
        case "GET_PROPERTY" if params == ["combined"]:
            return {"result": connection.combined, "id": ident}
    return {"code": 2, "msg": f"Invalid request: {method} {params}", "id": ident}
