"""Aster over HTTP: one aiohttp session, signed requests sent byte for byte as signed,
request-weight accounting, back-off on 429/418, bounded retries for reads, and exactly one
attempt for writes (whose replies the caller classifies).

Nothing here puts a secret, a signature or a listen key into a log line or an exception.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict
from yarl import URL

from hedged.adapters.aster.auth import TIME_PATH, Params, ServerClock, Signer
from hedged.adapters.aster.wire import (
    CLOCK_SKEW,
    WireError,
    parse_json,
    server_time_ms,
    venue_error,
)
from hedged.adapters.base import CredentialsRefused, MaySend, VenueError, always

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
ORDER_COUNT_HEADER = "X-MBX-ORDER-COUNT-1M"
RATE_LIMITED = (429, 418)
TOO_MANY_ORDERS = -1015
WINDOW_SECONDS = 60
MAX_REASON = 160


class Security(Enum):
    PUBLIC = "public"  # market data: no key, no signature
    STREAM = "stream"  # listenKey: V1 API-key header only; V3 signed
    SIGNED = "signed"  # TRADE and USER_DATA


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timeouts, retries and rate-limit shares; the defaults suit the live venue."""

    timeout: float = 10.0  # every HTTP call, connect to last byte
    read_attempts: int = 4
    backoff: float = 0.25  # first pause between read attempts, doubling
    backoff_max: float = 4.0
    max_wait: float = 5.0  # a read waits out a back-off up to this, else fails now
    write_wait: float = 2.0  # an order waits out a back-off up to this, else is not sent
    weight_budget: int = 2400  # REQUEST_WEIGHT per minute (exchangeInfo rateLimits)
    read_share: float = 0.5  # reads pause once this share of the budget is used
    write_share: float = 0.85  # orders stop being sent past this share
    retry_after_429: float = 10.0  # when a 429 carries no Retry-After
    retry_after_418: float = 120.0  # when an IP ban carries no Retry-After


class TransportError(VenueError):
    """No usable answer: timeout, refused or reset connection, truncated body."""


class NotSent(VenueError):
    """Refused locally (rate-limit back-off or budget): the request never left."""


class ApiError(VenueError):
    """The venue answered a read with its error body `{"code", "msg"}`."""

    def __init__(self, what: str, status: int, code: int, msg: str) -> None:
        super().__init__(f"{what}: HTTP {status} code {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg


# -1022 bad signature, -2014 malformed key, -2015 key unknown or not allowed
AUTH_ERRORS = frozenset({-1022, -2014, -2015})


class AuthRefused(ApiError, CredentialsRefused):
    venue = "aster"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive

    def json(self) -> Any:
        return parse_json(self.body)


class WeightBudget:
    """The IP's request weight in the venue's current minute, from `X-MBX-USED-WEIGHT-1M`
    (plus what we sent since), and the back-off imposed by 429/418."""

    def __init__(
        self,
        server: ServerClock,
        tuning: Tuning,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._tuning = tuning
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
        share = self._tuning.write_share if write else self._tuning.read_share
        if self.used + weight > self._tuning.weight_budget * share:
            blocked = max(blocked, WINDOW_SECONDS - self._server.now() % WINDOW_SECONDS)
        return blocked

    def charge(self, weight: int) -> None:
        self._roll()
        self.used += weight

    def observe(self, status: int, headers: Mapping[str, str], code: int | None) -> None:
        used = headers.get(WEIGHT_HEADER)
        if used is not None and used.isdigit():
            self._roll()
            self.used = int(used)
        orders = headers.get(ORDER_COUNT_HEADER)
        if orders is not None and orders.isdigit():
            self.order_count = int(orders)
        if status in RATE_LIMITED:
            default = (
                self._tuning.retry_after_418 if status == 418 else self._tuning.retry_after_429
            )
            seconds = _retry_after(headers.get("Retry-After"), default)
            self.back_off(seconds, orders_only=status == 429 and code == TOO_MANY_ORDERS)

    def back_off(self, seconds: float, *, orders_only: bool = False) -> None:
        until = self._monotonic() + seconds
        if orders_only:
            self.orders_blocked_until = max(self.orders_blocked_until, until)
        else:
            self.blocked_until = max(self.blocked_until, until)


def _retry_after(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


class AsterHttp:
    def __init__(
        self,
        base_url: str,
        signer: Signer,
        clock: ServerClock,
        tuning: Tuning | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.clock = clock
        self.tuning = tuning or Tuning()
        self.budget = WeightBudget(clock, self.tuning)
        self.may_send: MaySend = always
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AsterHttp(base_url={self.base_url!r}, signer={self.signer!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise VenueError("aster: not started (call start() first)")
        return self._session

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.tuning.timeout)
            )
            # aiohttp silently resends GET/PUT/DELETE once when the server hangs up: that
            # would resend a cancel. Writes are never resent; reads retry on our own terms.
            session._retry_connection = False
            self._session = session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        """One request, no retry. Raises TransportError when no complete answer came back;
        NotSent, `fenced`, when `may_send()` says no once it is signed."""
        wire, headers = self._encode(params, security)
        if fenced and not self.may_send():
            raise NotSent(f"{method} {path}: not sent, this daemon does not hold the lease")
        in_body = method in ("POST", "PUT")
        url = URL(self.base_url + path + (f"?{wire}" if wire and not in_body else ""), encoded=True)
        if in_body and wire:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.budget.charge(weight)
        what = f"{method} {path}"
        try:
            async with self.session.request(
                method,
                url,
                data=wire.encode() if in_body and wire else None,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.tuning.timeout),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                reply = Reply(response.status, body, CIMultiDict(response.headers))
        except TimeoutError:
            raise TransportError(f"{what}: timed out after {self.tuning.timeout}s") from None
        except (aiohttp.ClientError, HttpProcessingError, OSError) as e:
            raise TransportError(f"{what}: {_describe(e)}") from None
        code = _code(reply)
        self.budget.observe(reply.status, reply.headers, code)
        log.debug("%s -> HTTP %s", what, reply.status)
        if security is not Security.PUBLIC and code == CLOCK_SKEW:
            await self._resync(what)
        return reply

    def _encode(self, params: Params, security: Security) -> tuple[str, dict[str, str]]:
        if security is Security.PUBLIC:
            return urlencode(list(params)), {}
        headers = self.signer.headers()
        if security is Security.STREAM and not self.signer.stream_signed:
            return urlencode(list(params)), headers
        return self.signer.sign(params), headers

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
        sent = self.clock.local()
        reply = await self.send("GET", TIME_PATH, (), security=Security.PUBLIC, weight=1)
        received = self.clock.local()
        if reply.status != 200:
            raise VenueError(f"GET {TIME_PATH}: HTTP {reply.status}")
        self.clock.measure(sent, received, server_time_ms(reply.json()))

    # --- reads and writes ----------------------------------------------------------------------

    async def write(self, method: str, path: str, params: Params, *, weight: int = 1) -> Reply:
        """Exactly one attempt. NotSent if the rate-limit back-off outlasts `write_wait`;
        TransportError if the request may have left but no full answer came back."""
        wait = self.budget.delay(weight, write=True)
        if wait > self.tuning.write_wait:
            raise NotSent(f"{method} {path}: not sent, rate-limit back-off for {wait:.1f}s")
        if wait > 0:
            await asyncio.sleep(wait)
        return await self.send(
            method, path, params, security=Security.SIGNED, weight=weight, fenced=True
        )

    async def read(
        self,
        method: str,
        path: str,
        params: Params = (),
        *,
        security: Security = Security.SIGNED,
        weight: int = 1,
    ) -> Any:
        """The JSON of a 2xx reply. Retries transport trouble, 5xx, 429/418 (after their
        Retry-After) and -1021 (after a clock re-sync); raises ApiError for any other venue
        error and VenueError once the attempts are spent."""
        what = f"{method} {path}"
        pause = self.tuning.backoff
        trouble = "no attempt"
        for attempt in range(self.tuning.read_attempts):
            if attempt:
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.tuning.backoff_max)
            wait = self.budget.delay(weight, write=False)
            if wait > self.tuning.max_wait:
                raise VenueError(f"{what}: rate-limit back-off for {wait:.0f}s")
            if wait > 0:
                log.info("aster: %s waits %.1fs for the rate limit", what, wait)
                await asyncio.sleep(wait)
            try:
                reply = await self.send(method, path, params, security=security, weight=weight)
            except TransportError as e:
                trouble = str(e)
                continue
            if 200 <= reply.status < 300:
                try:
                    return reply.json()
                except WireError as e:
                    trouble = f"HTTP {reply.status}: {e}"
                    continue
            error = _error(reply)
            if reply.status >= 500 or reply.status in RATE_LIMITED or error is None:
                trouble = f"HTTP {reply.status}" + (f" code {error[0]}" if error else "")
                continue
            if error[0] == CLOCK_SKEW:
                trouble = "timestamp outside the window (-1021)"
                continue
            refused = AuthRefused if error[0] in AUTH_ERRORS else ApiError
            raise refused(what, reply.status, *error)
        raise VenueError(f"{what}: gave up after {self.tuning.read_attempts} attempts: {trouble}")


def _error(reply: Reply) -> tuple[int, str] | None:
    try:
        return venue_error(reply.json())
    except WireError:
        return None


def _code(reply: Reply) -> int | None:
    error = _error(reply) if reply.status >= 400 else None
    return error[0] if error else None


def _describe(error: BaseException) -> str:
    """The exception's kind and a short message (aiohttp's may quote the URL, which holds no
    secret; the API key travels in a header, which no aiohttp message quotes)."""
    text = str(error).split("\n", 1)[0][:MAX_REASON]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
