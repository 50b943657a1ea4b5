"""Backpack's request authentication (docs/venues/backpack.md#authentication): which parameters
are signed, the timestamp window, the ED25519 signature and the API key, for REST headers and
for the WebSocket `signature` array."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

from aiohttp import web

from hedged.sim.accounts import Accounts
from hedged.sim.backpack.errors import BackpackError, bad_request
from hedged.sim.backpack.params import Params
from hedged.sim.backpack.signing import DEFAULT_WINDOW_MS, MAX_WINDOW_MS, signing_string, verify

BODY_METHODS = frozenset({"POST", "DELETE", "PATCH"})
WS_INSTRUCTION = "subscribe"
# Set on a signed request before its handler runs.
ACCOUNT = web.RequestKey("backpack_account", str)
PARAMS = web.RequestKey[dict[str, object]]("backpack_params")


def unauthorized(message: str) -> BackpackError:
    return BackpackError(401, "UNAUTHORIZED", message)


async def request_params(request: web.Request) -> dict[str, object]:
    """The signed parameters: the JSON body for POST/DELETE/PATCH, else the query; nulls
    dropped (clients never send them; the server treatment is unknown)."""
    if request.method not in BODY_METHODS:
        return dict(request.query)
    raw = await request.text()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise bad_request("Invalid request payload") from None
    if not isinstance(data, dict):
        raise bad_request("Invalid request payload")
    return {key: value for key, value in data.items() if value is not None}


def authenticate(
    accounts: Accounts,
    instruction: str,
    params: Params,
    headers: Mapping[str, str],
    now_ms: int,
) -> str:
    """The account a signed REST request acts for, or BackpackError."""
    return check_signature(
        accounts,
        instruction,
        params,
        api_key=headers.get("X-API-Key"),
        signature=headers.get("X-Signature"),
        timestamp=headers.get("X-Timestamp"),
        window=headers.get("X-Window"),
        now_ms=now_ms,
    )


def authenticate_ws(accounts: Accounts, signature: object, now_ms: int) -> str:
    """The account of a private subscription's `["key", "sig", "ts", "window"]`, or
    BackpackError."""
    parts = signature if isinstance(signature, list) else []
    if len(parts) not in (3, 4) or not all(isinstance(part, str) for part in parts):
        raise bad_request("Invalid signature")
    return check_signature(
        accounts,
        WS_INSTRUCTION,
        {},
        api_key=parts[0],
        signature=parts[1],
        timestamp=parts[2],
        window=parts[3] if len(parts) == 4 else None,
        now_ms=now_ms,
    )


def check_signature(
    accounts: Accounts,
    instruction: str,
    params: Params,
    *,
    api_key: str | None,
    signature: str | None,
    timestamp: str | None,
    window: str | None,
    now_ms: int,
) -> str:
    """Checks run cheapest first: headers, window, freshness, signature, then the key."""
    if not api_key:
        raise unauthorized("Missing X-API-Key header")
    timestamp_ms = _int_header("X-Timestamp", timestamp)
    window_ms = DEFAULT_WINDOW_MS if window is None else _int_header("X-Window", window)
    if not 0 < window_ms <= MAX_WINDOW_MS:
        raise bad_request(f"Invalid X-Window header: must be at most {MAX_WINDOW_MS}")
    # Future-dated timestamps get the same treatment as stale ones (undocumented:
    # docs/venues/backpack.md#where-the-documentation-is-silent).
    if abs(now_ms - timestamp_ms) > window_ms:
        raise bad_request("Request has expired")
    try:
        message = signing_string(instruction, params, timestamp_ms, window_ms)
    except (TypeError, ValueError):
        raise bad_request("Invalid request payload") from None
    if not signature or not verify(api_key, message, signature):
        raise bad_request("Invalid signature")
    key = accounts.backpack.get(api_key)
    if key is None:
        raise unauthorized("API key not found")
    return key.account


def _int_header(name: str, value: str | None) -> int:
    if value is None or not value.isdigit():
        raise bad_request(f"Invalid {name} header")
    return int(value)
