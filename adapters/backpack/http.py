"""Backpack over REST, on the shared transport (`hedged.adapters.http`): requests signed by
`auth`, the server-time offset, pacing under the rate limit, and the reading of Backpack's
error body.
Reads retry; orders are sent exactly once (`write`) and the caller classifies the reply.

Nothing here puts a credential in a log line, an exception or a repr: errors carry the
method, path, status and the venue's code and message only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from hedged.adapters.backpack.auth import Signer
from hedged.adapters.backpack.signing import render_value
from hedged.adapters.backpack.wire import (
    Param,
    is_auth_error,
    is_clock_error,
    is_not_found,
    is_unknown_symbol,
    parse_error,
    parse_server_time,
)
from hedged.adapters.base import CredentialsRefused, SymbolNotListed, VenueError
from hedged.adapters.errors import NotSent, WireError
from hedged.adapters.fields import snippet
from hedged.adapters.http import Http, HttpPolicy, Reply, Retry

log = logging.getLogger(__name__)

TIME_PATH = "/api/v1/time"
BODY_METHODS = frozenset({"POST", "DELETE", "PATCH"})
JSON_CONTENT = "application/json; charset=utf-8"
Sleep = Callable[[float], Awaitable[None]]
# 10 requests/s is 600/min, under a third of the venue's 2000/min budget
# (docs/venues/backpack.md#rate-limits).
DEFAULT_POLICY = HttpPolicy(
    connect_timeout=5.0,
    rate_limited_pause=2.0,  # doubling while a read keeps meeting 429s
    rate_limited_pause_max=60.0,
    requests_per_second=10.0,
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request exactly as it goes on the wire."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str | None
    headers: Mapping[str, str]


class AuthRefused(CredentialsRefused):
    venue = "backpack"


class UnknownMarket(SymbolNotListed):
    venue = "backpack"


class Pacer:
    """Spaces requests at most `rate` a second, and holds everything back after a 429."""

    def __init__(self, rate: float, sleep: Sleep = asyncio.sleep) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._cooldown_until = 0.0
        self._sleep = sleep

    def crowded(self) -> bool:
        """Cooling down after a 429 (the pacer's own spacing keeps us under the limit)."""
        return self._cooldown_until > time.monotonic()

    def cool_down(self, seconds: float) -> None:
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + seconds)

    async def wait(self, limit: float | None = None, write: bool = False) -> bool:
        """Wait for a slot; False (without waiting) if it is further away than `limit`.
        A write (an order, a cancel) waits only for a 429 cool-down, not behind reads: a
        stop-loss must not queue behind a fills lookup. It still takes a slot."""
        now = time.monotonic()
        at = max(now, self._cooldown_until) if write else max(now, self._next, self._cooldown_until)
        if limit is not None and at - now > limit:
            return False
        self._next = max(self._next, at + self._interval)  # reserved before sleeping
        if at > now:
            await self._sleep(at - now)
        return True


def render_params(params: Mapping[str, Param]) -> dict[str, str]:
    return {key: render_value(value) for key, value in params.items()}


class BackpackHttp(Http):
    def __init__(self, base_url: str, signer: Signer, policy: HttpPolicy = DEFAULT_POLICY) -> None:
        super().__init__("backpack", base_url, policy, signer.clock.local, signer.scrub)
        self.signer = signer
        self.pacer = Pacer(policy.requests_per_second)

    def __repr__(self) -> str:
        return f"BackpackHttp({self.base_url!r}, window_ms={self.signer.window_ms})"

    def prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Param],
        instruction: str | None = None,
        timestamp_ms: int | None = None,
        write: bool = False,
    ) -> Prepared:
        """The request for `params` (JSON body for POST/DELETE/PATCH, else the query), signed
        with `instruction` unless it is None. Body and signature render values alike."""
        method = method.upper()
        headers: dict[str, str] = {}
        if instruction is not None:
            headers.update(self.signer.headers(instruction, params, timestamp_ms, write))
        if method in BODY_METHODS:
            body = json.dumps(dict(sorted(params.items())), separators=(",", ":"))
            headers["Content-Type"] = JSON_CONTENT
            return Prepared(method, path, (), body, headers)
        query = tuple(sorted(render_params(params).items()))
        return Prepared(method, path, query, None, headers)

    async def send(self, request: Prepared, *, fenced: bool = False) -> Reply:
        """One attempt: see `Http.exchange`. A venue (or a proxy) echoing our headers must not
        carry a credential into our errors: the body comes back scrubbed."""
        reply = await self.exchange(
            request.method,
            request.path,
            query=urlencode(request.query),
            body=request.body.encode() if request.body is not None else None,
            headers=request.headers,
            fenced=fenced,
        )
        return replace(reply, body=self.signer.scrub(reply.text).encode())

    def prepare_write(
        self, method: str, path: str, params: Mapping[str, Param], instruction: str
    ) -> Callable[[], Awaitable[Reply]]:
        """A state-changing request signed now, sent once when called. Signed before any
        wait, so the venue stops accepting it one window after it was made ready, whatever
        the pacer does. The call raises TransportError (maybe acted on) or NotSent
        (certainly not)."""
        request = self.prepare(method, path, params, instruction, write=True)

        async def write() -> Reply:
            if not await self.pacer.wait(limit=self.signer.write_window_ms / 2000, write=True):
                raise NotSent("rate-limit cooldown longer than half the signature window")
            reply = await self.send(request, fenced=True)
            if reply.status == 429:
                self._rate_limited(reply, 0)
            return reply

        return write

    async def read(
        self,
        method: str,
        path: str,
        params: Mapping[str, Param],
        instruction: str | None = None,
        *,
        not_found_ok: bool = False,
    ) -> Reply:
        """A 2xx answer (or the not-found answer when `not_found_ok`), retrying transport
        trouble, 5xx, 408 and 429 with backoff; VenueError when it cannot get one."""
        what = f"{method} {path}"
        resynced = False
        attempts = 0

        async def attempt() -> Reply | Retry:
            nonlocal resynced, attempts
            attempts += 1
            await self.pacer.wait()
            try:
                request = self.prepare(method, path, params, instruction)
            except NotSent as e:
                raise VenueError(f"backpack {what}: {e}") from None
            reply = await self.send(request)
            status = reply.status
            error = None if reply.ok else parse_error(reply.text)
            if reply.ok or (not_found_ok and is_not_found(status, error)):
                return reply
            if status == 429:
                self._rate_limited(reply, attempts)
                return Retry("rate limited (HTTP 429)", pause=False)
            if status >= 500 or status == 408 or status < 200:
                return Retry(f"HTTP {status}")
            if instruction is not None and is_clock_error(error) and not resynced:
                resynced = True  # the clock, not the venue, was at fault: resync, ask again
                await self.sync_time()
                attempts -= 1
                return await attempt()
            detail = f"{error.code}: {error.message}" if error else snippet(reply.text)
            refused = (
                AuthRefused
                if is_auth_error(status, error)
                else UnknownMarket
                if is_unknown_symbol(error)
                else VenueError
            )
            raise refused(f"backpack {what}: HTTP {status} ({detail})")

        return await self.retry(what, attempt)

    async def sync_time(self) -> None:
        """Measure the venue's clock against ours (`/api/v1/time`, at the round trip's middle)."""
        reply = await self.read("GET", TIME_PATH, {})
        try:
            server_ms = parse_server_time(reply.text)
        except WireError as e:
            raise VenueError(f"backpack GET {TIME_PATH}: {e}") from None
        self.signer.clock.measure(reply.sent_at, reply.received_at, server_ms)
        log.info("backpack clock offset %+d ms", self.signer.clock.offset_us // 1000)

    def _rate_limited(self, reply: Reply, attempt: int) -> None:
        p = self.policy
        pause = reply.retry_after()
        if pause is None:
            pause = p.rate_limited_pause * 2 ** max(attempt - 1, 0)
        if p.rate_limited_pause_max is not None:
            pause = min(pause, p.rate_limited_pause_max)
        log.warning("backpack rate limited (HTTP 429); pausing requests for %.1fs", pause)
        self.pacer.cool_down(pause)
