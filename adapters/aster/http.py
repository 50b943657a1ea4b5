"""Aster over REST, on the shared transport (`hedged.adapters.http`): signed requests sent
byte for byte as signed, request-weight accounting, back-off on 429/418, and the reading of
Aster's error body. Reads retry; writes go out once and the caller classifies the reply.

Nothing here puts a secret, a signature or a listen key into a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from hedged.adapters.aster.auth import TIME_PATH, Params, Signer
from hedged.adapters.aster.wire import CLOCK_SKEW, server_time_ms, venue_error
from hedged.adapters.base import CredentialsRefused, VenueError
from hedged.adapters.clock import ServerClock
from hedged.adapters.errors import ApiError, NotSent, WireError
from hedged.adapters.http import Http, HttpPolicy, Reply, Retry, retry_after

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-1M"
RATE_LIMITED = (429, 418)
TOO_MANY_ORDERS = -1015
WINDOW_SECONDS = 60
DEFAULT_POLICY = HttpPolicy()


class Security(Enum):
    PUBLIC = "public"  # market data: no key, no signature
    STREAM = "stream"  # listenKey: V1 API-key header only; V3 signed
    SIGNED = "signed"  # TRADE and USER_DATA


# -1022 bad signature, -2014 malformed key, -2015 key unknown or not allowed
AUTH_ERRORS = frozenset({-1022, -2014, -2015})


class AuthRefused(ApiError, CredentialsRefused):
    venue = "aster"


class WeightBudget:
    """The IP's request weight in the venue's current minute, from `X-MBX-USED-WEIGHT-1M`
    (plus what we sent since), and the back-off imposed by 429/418."""

    def __init__(
        self,
        server: ServerClock,
        policy: HttpPolicy,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._policy = policy
        self._monotonic = monotonic
        self._window = -1
        self.used = 0
        self.order_count: int | None = None
        self.blocked_until = 0.0  # every request (IP weight, -1003; a 418 ban)
        self.orders_blocked_until = 0.0  # new orders only (the account's order count, -1015)

    def _roll(self) -> None:
        window = int(self._server.now() // WINDOW_SECONDS)
        if window != self._window:
            self._window = window
            self.used = 0

    def delay(self, weight: int, *, write: bool) -> float:
        """Seconds to wait before sending `weight` more."""
        until = max(self.blocked_until, self.orders_blocked_until if write else 0.0)
        blocked = max(0.0, until - self._monotonic())
        self._roll()
        share = self._policy.write_share if write else self._policy.read_share
        if self.used + weight > self._policy.weight_budget * share:
            blocked = max(blocked, WINDOW_SECONDS - self._server.now() % WINDOW_SECONDS)
        return blocked

    def crowded(self) -> bool:
        """Past the share of the minute's weight up to which new work may start, or held
        back by the venue: what open rounds need to end must keep its room."""
        self._roll()
        blocked = max(self.blocked_until, self.orders_blocked_until) > self._monotonic()
        return blocked or self.used > self._policy.weight_budget * self._policy.open_share

    def charge(self, weight: int) -> int:
        """Count a request about to be sent; the window it is sent in."""
        self._roll()
        self.used += weight
        return self._window

    def observe(
        self, status: int, headers: Mapping[str, str], code: int | None, window: int
    ) -> None:
        """The answer to a request sent in `window`: its used weight counts only if that
        window is still the current one (an answer arriving after the minute turned reports
        the minute before, and would hold reads back for the whole new one)."""
        used = headers.get(WEIGHT_HEADER)
        self._roll()
        if used is not None and used.isdigit() and window == self._window:
            self.used = int(used)
        orders = headers.get(ORDER_COUNT_HEADER)
        if orders is not None and orders.isdigit():
            self.order_count = int(orders)
        if status in RATE_LIMITED:
            default = (
                self._policy.banned_pause if status == 418 else self._policy.rate_limited_pause
            )
            seconds = retry_after(headers.get("Retry-After"))
            seconds = default if seconds is None else seconds
            self.back_off(seconds, orders_only=status == 429 and code == TOO_MANY_ORDERS)

    def back_off(self, seconds: float, *, orders_only: bool = False) -> None:
        until = self._monotonic() + seconds
        if orders_only:
            self.orders_blocked_until = max(self.orders_blocked_until, until)
        else:
            self.blocked_until = max(self.blocked_until, until)


class AsterHttp(Http):
    def __init__(
        self,
        base_url: str,
        signer: Signer,
        clock: ServerClock,
        policy: HttpPolicy = DEFAULT_POLICY,
    ) -> None:
        super().__init__("aster", base_url, policy, clock.local)
        self.signer = signer
        self.clock = clock
        self.budget = WeightBudget(clock, policy)

    def __repr__(self) -> str:
        return f"AsterHttp(base_url={self.base_url!r}, signer={self.signer!r})"

    # --- one attempt -------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        params: Params,
        *,
        security: Security,
        weight: int,
        fenced: bool = False,
    ) -> Reply:
        """One request, no retry: see `Http.exchange`."""
        wire, headers = self._encode(params, security, write=fenced)
        return await self._send_encoded(method, path, wire, headers, security, weight, fenced)

    async def _send_encoded(
        self,
        method: str,
        path: str,
        wire: str,
        headers: dict[str, str],
        security: Security,
        weight: int,
        fenced: bool,
    ) -> Reply:
        in_body = method in ("POST", "PUT")
        if in_body and wire:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        window = self.budget.charge(weight)
        reply = await self.exchange(
            method,
            path,
            query="" if in_body else wire,
            body=wire.encode() if in_body and wire else None,
            headers=headers,
            fenced=fenced,
        )
        code = _code(reply)
        self.budget.observe(reply.status, reply.headers, code, window)
        if security is not Security.PUBLIC and code == CLOCK_SKEW:
            await self._resync(f"{method} {path}")
        return reply

    def _encode(
        self, params: Params, security: Security, write: bool
    ) -> tuple[str, dict[str, str]]:
        if security is Security.PUBLIC:
            return urlencode(list(params)), {}
        headers = self.signer.headers()
        if security is Security.STREAM and not self.signer.stream_signed:
            return urlencode(list(params)), headers
        return self.signer.sign(params, write), headers

    async def _resync(self, what: str) -> None:
        try:
            await self.sync_time()
        except VenueError as e:
            log.warning("aster: clock re-sync after -1021 on %s failed: %s", what, e)
        else:
            log.info(
                "aster: clock re-synced after -1021 (offset %d ms)", self.clock.offset_us // 1000
            )

    async def sync_time(self) -> None:
        """Measure the offset to the venue's clock from one `/fapi/v1/time` round trip."""
        reply = await self.send("GET", TIME_PATH, (), security=Security.PUBLIC, weight=1)
        if reply.status != 200:
            raise VenueError(f"GET {TIME_PATH}: HTTP {reply.status}")
        self.clock.measure(reply.sent_at, reply.received_at, server_time_ms(reply.json()))

    # --- reads and writes ----------------------------------------------------------------------

    def prepare_write(
        self, method: str, path: str, params: Params, *, weight: int = 1
    ) -> Callable[[], Awaitable[Reply]]:
        """`write`, signed now and sent when called."""
        signed = self._encode(params, Security.SIGNED, write=True)

        async def write() -> Reply:
            nonlocal signed
            wait = self.budget.delay(weight, write=True)
            if wait > self.policy.write_wait:
                raise NotSent(f"{method} {path}: not sent, rate-limit back-off for {wait:.1f}s")
            if wait > 0:  # signed again after the wait: the window counts from the send
                await asyncio.sleep(wait)
                signed = self._encode(params, Security.SIGNED, write=True)
            wire, headers = signed
            return await self._send_encoded(
                method, path, wire, headers, Security.SIGNED, weight, fenced=True
            )

        return write

    async def write(self, method: str, path: str, params: Params, *, weight: int = 1) -> Reply:
        """Exactly one attempt. NotSent if the rate-limit back-off outlasts `write_wait`;
        TransportError if the request may have left but no full answer came back."""
        return await self.prepare_write(method, path, params, weight=weight)()

    async def read(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        security: Security = Security.SIGNED,
        weight: int = 1,
        max_wait: float | None = None,
    ) -> Any:
        """The JSON of a 2xx reply. Retries transport trouble, 5xx, 429/418 (after their
        Retry-After) and -1021 (after a clock re-sync); raises ApiError for any other venue
        error and VenueError once the attempts are spent, or when the rate-limit back-off
        outlasts `max_wait` (the policy's by default)."""
        what = f"{method} {path}"
        patience = self.policy.max_wait if max_wait is None else max_wait

        async def attempt() -> Any:
            wait = self.budget.delay(weight, write=False)
            if wait > patience:
                raise VenueError(f"{what}: rate-limit back-off for {wait:.0f}s")
            if wait > 0:
                log.info("aster: %s waits %.1fs for the rate limit", what, wait)
                await asyncio.sleep(wait)
            reply = await self.send(method, path, params, security=security, weight=weight)
            if reply.ok:
                try:
                    return reply.json()
                except WireError as e:
                    return Retry(f"HTTP {reply.status}: {e}")
            error = _error(reply)
            if reply.status >= 500 or reply.status in RATE_LIMITED or error is None:
                return Retry(f"HTTP {reply.status}" + (f" code {error[0]}" if error else ""))
            if error[0] == CLOCK_SKEW:
                return Retry("timestamp outside the window (-1021)")
            refused = AuthRefused if error[0] in AUTH_ERRORS else ApiError
            raise refused(what, reply.status, *error)

        return await self.retry(what, attempt)


def _error(reply: Reply) -> tuple[int, str] | None:
    try:
        return venue_error(reply.json())
    except WireError:
        return None


def _code(reply: Reply) -> int | None:
    error = _error(reply) if reply.status >= 400 else None
    return error[0] if error else None
