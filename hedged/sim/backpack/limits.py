"""Backpack's request budget and WebSocket keep-alive."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from hedged.sim.admin import PREFIX as ADMIN_PREFIX
from hedged.sim.backpack.errors import ANSWERS, answer_response
from hedged.sim.limits import Clock, RateLimit, WindowCounter


@dataclass(frozen=True, slots=True)
class BackpackLimits:
    """Rate limit (2000 requests a minute) and WebSocket keep-alive
    (docs/venues/backpack.md#rate-limits, docs/venues/backpack.md#streams)."""

    requests: int = 2000
    per_seconds: float = 60.0
    ws_ping_seconds: float = 60.0
    ws_pong_timeout: float = 120.0


def request_limit(limits: BackpackLimits, clock: Clock) -> RateLimit:
    """Every API request counts once, per API key (else per client address); past the
    budget, the venue's 429 without acting."""

    def cost(request: web.Request) -> int | None:
        return None if request.path.startswith(ADMIN_PREFIX) else 1

    return RateLimit(
        WindowCounter(clock, limits.per_seconds),
        limits.requests,
        cost,
        key=lambda request: request.headers.get("X-API-Key") or request.remote or "?",
        refused=lambda: answer_response(ANSWERS.rate_limited()),
    )
