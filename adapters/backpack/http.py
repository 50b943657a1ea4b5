"""Backpack REST transport: signed requests, the server-time offset, pacing under the rate
limit, and retries for reads. Orders are sent exactly once (`write`); the caller classifies.

Nothing here puts a credential in a log line, an exception or a repr: errors carry the
method, path, status and the venue's code and message only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp

from hedged.adapters.backpack.signing import headers as auth_headers
from hedged.adapters.backpack.signing import public_key_b64, render_value
from hedged.adapters.backpack.wire import (
    Param,
    WireError,
    is_auth_error,
    is_clock_error,
    is_not_found,
    is_unknown_symbol,
    parse_error,
    parse_server_time,
    snippet,
)
from hedged.adapters.base import CredentialsRefused, MaySend, SymbolNotListed, VenueError, always
from hedged.secrets import BackpackCredentials

log = logging.getLogger(__name__)

TIME_PATH = "/api/v1/time"
BODY_METHODS = frozenset({"POST", "DELETE", "PATCH"})
JSON_CONTENT = "application/json; charset=utf-8"
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts, read retries and pacing. 10 requests/s is 600/min, under a third of the
    venue's 2000/min budget (docs/venues/backpack.md#rate-limits)."""

    timeout: float = 10.0
    connect_timeout: float = 5.0
    read_attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 4.0
    rate_limited_pause: float = 2.0  # after a 429 without Retry-After
    max_rate_limited_pause: float = 60.0
    requests_per_second: float = 10.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """One request exactly as it goes on the wire."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str | None
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    text: str
    retry_after: float | None
    sent_at: float  # our clock, seconds
    received_at: float


class AuthRefused(CredentialsRefused):
    venue = "backpack"


class UnknownMarket(SymbolNotListed):
    venue = "backpack"


class Unanswered(Exception):
    """No complete answer: the request may or may not have reached the venue."""


class NotSent(Exception):
    """The request was not sent at all (the pacer could not fit it in its signature window)."""


class Pacer:
    """Spaces requests at most `rate` a second, and holds everything back after a 429."""

    def __init__(self, rate: float, sleep: Sleep = asyncio.sleep) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._cooldown_until = 0.0
        self._sleep = sleep

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


class BackpackHttp:
    def __init__(
        self,
        base_url: str,
        credentials: BackpackCredentials,
        window_ms: int,
        clock: Clock = time.time,
        policy: HttpPolicy = HttpPolicy(),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.window_ms = window_ms
        self.clock = clock
        self.policy = policy
        self.offset_ms = 0  # venue time minus our time
        self.pacer = Pacer(policy.requests_per_second)
        self.may_send: MaySend = always
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"BackpackHttp({self.base_url!r}, window_ms={self.window_ms})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise VenueError("backpack: not started")
        return self._session

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.policy.timeout, sock_connect=self.policy.connect_timeout
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
            # aiohttp silently resends an idempotent method (our cancel's DELETE) once when a
            # pooled connection drops; a write must go out exactly once (a test guards this).
            self._session._retry_connection = False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def scrub(self, text: str) -> str:
        for value in (self._credentials.api_key.reveal(), self._credentials.api_secret.reveal()):
            if value:
                text = text.replace(value, "***")
        return text

    def timestamp_ms(self) -> int:
        return int(self.clock() * 1000) + self.offset_ms

    def check_credentials(self) -> None:
        """VenueError unless the API key is the public key of the secret
        (docs/venues/backpack.md#authentication)."""
        try:
            public = public_key_b64(self._credentials.api_secret.reveal())
        except ValueError as e:  # its message names the problem, never the value
            raise VenueError(f"backpack api secret: {e}") from None
        if public != self._credentials.api_key.reveal():
            raise VenueError("backpack api key is not the public key of the api secret")

    def sign(
        self, instruction: str, params: Mapping[str, Param], timestamp_ms: int
    ) -> dict[str, str]:
        """The auth headers; NotSent if they cannot be made."""
        try:
            return auth_headers(
                self._credentials.api_key.reveal(),
                self._credentials.api_secret.reveal(),
                instruction,
                params,
                timestamp_ms,
                self.window_ms,
            )
        except (ValueError, TypeError) as e:
            raise NotSent(f"cannot sign: {e}") from None

    def prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, Param],
        instruction: str | None = None,
        timestamp_ms: int | None = None,
    ) -> Prepared:
        """The request for `params` (JSON body for POST/DELETE/PATCH, else the query), signed
        with `instruction` unless it is None. Body and signature render values alike."""
        method = method.upper()
        headers: dict[str, str] = {}
        if instruction is not None:
            stamp = self.timestamp_ms() if timestamp_ms is None else timestamp_ms
            headers.update(self.sign(instruction, params, stamp))
        if method in BODY_METHODS:
            body = json.dumps(dict(sorted(params.items())), separators=(",", ":"))
            headers["Content-Type"] = JSON_CONTENT
            return Prepared(method, path, (), body, headers)
        query = tuple(sorted(render_params(params).items()))
        return Prepared(method, path, query, None, headers)

    async def send(self, request: Prepared) -> Response:
        """One attempt; Unanswered when no complete answer came back."""
        sent_at = self.clock()
        try:
            async with self.session.request(
                request.method,
                self.base_url + request.path,
                params=request.query or None,
                data=request.body.encode() if request.body is not None else None,
                headers=request.headers,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                retry_after = _seconds(response.headers.get("Retry-After"))
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise Unanswered(self.scrub(_describe(e))) from None
        # A venue (or a proxy) echoing our headers must not carry a credential into our errors.
        text = self.scrub(raw.decode("utf-8", errors="replace"))
        log.debug("%s %s -> %s", request.method, request.path, status)
        return Response(status, text, retry_after, sent_at, self.clock())

    async def write(
        self, method: str, path: str, params: Mapping[str, Param], instruction: str
    ) -> Response:
        """Send a state-changing request once. Signed before any wait, so the venue stops
        accepting it one window after this call began, whatever the pacer does. Raises
        Unanswered (maybe acted on) or NotSent (certainly not)."""
        request = self.prepare(method, path, params, instruction)
        if not await self.pacer.wait(limit=self.window_ms / 2000, write=True):
            raise NotSent("rate-limit cooldown longer than half the signature window")
        if not self.may_send():
            raise NotSent("not sent: this daemon does not hold the lease")
        response = await self.send(request)
        if response.status == 429:
            self._rate_limited(response, 0)
        return response

    async def read(
        self,
        method: str,
        path: str,
        params: Mapping[str, Param],
        instruction: str | None = None,
        *,
        not_found_ok: bool = False,
    ) -> Response:
        """A 2xx answer (or the not-found answer when `not_found_ok`), retrying transport
        trouble, 5xx, 408 and 429 with backoff; VenueError when it cannot get one."""
        what = f"{method} {path}"
        resynced = False
        last = "no attempt"
        attempt = 0
        while attempt < self.policy.read_attempts:
            await self.pacer.wait()
            try:
                request = self.prepare(method, path, params, instruction)
            except NotSent as e:
                raise VenueError(f"backpack {what}: {e}") from None
            attempt += 1
            try:
                response = await self.send(request)
            except Unanswered as e:
                last = str(e)
                await self._backoff(attempt)
                continue
            status = response.status
            if 200 <= status < 300:
                return response
            error = parse_error(response.text)
            if not_found_ok and is_not_found(status, error):
                return response
            if status == 429:
                last = "rate limited (HTTP 429)"
                self._rate_limited(response, attempt)
                continue
            if status >= 500 or status == 408 or status < 200:
                last = f"HTTP {status}"
                await self._backoff(attempt)
                continue
            if instruction is not None and is_clock_error(error) and not resynced:
                resynced = True
                attempt -= 1  # the clock, not the venue, was at fault
                await self.sync_time()
                continue
            detail = f"{error.code}: {error.message}" if error else snippet(response.text)
            refused = (
                AuthRefused
                if is_auth_error(status, error)
                else UnknownMarket
                if is_unknown_symbol(error)
                else VenueError
            )
            raise refused(f"backpack {what}: HTTP {status} ({detail})")
        raise VenueError(f"backpack {what}: {last} (after {attempt} attempts)")

    async def sync_time(self) -> None:
        """Measure the venue's clock against ours (`/api/v1/time`, at the round trip's middle)."""
        response = await self.read("GET", TIME_PATH, {})
        try:
            server_ms = parse_server_time(response.text)
        except WireError as e:
            raise VenueError(f"backpack GET {TIME_PATH}: {e}") from None
        midpoint_ms = (response.sent_at + response.received_at) * 500
        self.offset_ms = round(server_ms - midpoint_ms)
        log.info("backpack clock offset %+d ms", self.offset_ms)

    def _rate_limited(self, response: Response, attempt: int) -> None:
        p = self.policy
        pause = response.retry_after
        if pause is None:
            pause = p.rate_limited_pause * 2 ** max(attempt - 1, 0)
        pause = min(pause, p.max_rate_limited_pause)
        log.warning("backpack rate limited (HTTP 429); pausing requests for %.1fs", pause)
        self.pacer.cool_down(pause)

    async def _backoff(self, attempt: int) -> None:
        if attempt >= self.policy.read_attempts:
            return
        p = self.policy
        delay = min(p.backoff * 2 ** (attempt - 1), p.max_backoff)
        await asyncio.sleep(delay * random.uniform(0.5, 1.0))


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by APIs; ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 3600 else None


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    text = snippet(str(error))
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
