"""The REST transport both venue clients share: one aiohttp session, one attempt per `exchange`
(a write is sent exactly once; the caller classifies its reply), reads retried with back-off
by `retry`, Retry-After read from the reply, and the lease fence checked just before a
request leaves. Each venue adds its own signing, endpoints and rate-limit accounting.

Nothing here puts a credential in a log line or an exception: errors name the method, path
and what went wrong, passed through the venue's `scrub`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict
from yarl import URL

from hedged.adapters import fields
from hedged.adapters.base import MaySend, VenueError, always
from hedged.adapters.errors import NotSent, TransportError

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Scrub = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts, read retries, back-off and rate-limit pauses of one venue's REST client.
    Each venue's `DEFAULT_POLICY` suits the live venue; a field marked with a venue is read
    by that venue's rate-limit accounting only."""

    timeout: float = 10.0  # every call, connect to last byte
    connect_timeout: float | None = None  # within `timeout` when None
    read_attempts: int = 4
    backoff: float = 0.25  # first pause between read attempts, doubling, with jitter
    backoff_max: float = 4.0
    rate_limited_pause: float = 10.0  # after a 429 without Retry-After
    rate_limited_pause_max: float | None = None  # a longer Retry-After is cut to this
    max_wait: float = 5.0  # a read waits out a rate-limit back-off up to this, else fails now
    write_wait: float = 2.0  # an order waits out a rate-limit back-off up to this, else NotSent
    banned_pause: float = 120.0  # Aster: after a 418 (IP ban) without Retry-After
    weight_budget: int = 2400  # Aster: REQUEST_WEIGHT per minute (exchangeInfo rateLimits)
    open_share: float = 0.4  # Aster: no new round opens past this share (open rounds' room)
    read_share: float = 0.5  # Aster: reads pause once this share of the budget is used
    write_share: float = 0.85  # Aster: orders stop being sent past this share
    requests_per_second: float = 10.0  # Backpack: the pacer's spacing (0: none)


class Backoff:
    """Pauses that double from `first` up to `most`, each drawn from [half, whole] so that
    clients that failed together do not retry together."""

    def __init__(self, first: float, most: float) -> None:
        self._first = first
        self._most = most
        self.pause = first

    def reset(self) -> None:
        self.pause = self._first

    async def wait(self) -> None:
        await asyncio.sleep(self.pause * random.uniform(0.5, 1.0))
        self.pause = min(self.pause * 2, self._most)


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive
    sent_at: float  # our wall clock, seconds
    received_at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return fields.decode(self.body)

    def retry_after(self) -> float | None:
        return retry_after(self.headers.get("Retry-After"))


@dataclass(frozen=True, slots=True)
class Retry:
    """What a read attempt returns when another attempt may do better."""

    trouble: str
    pause: bool = True  # False when the attempt already waited (a rate-limit cool-down)


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds; None when absent or not a number of seconds (the HTTP-date
    form is not used by APIs)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def describe(error: BaseException) -> str:
    """The exception's kind and a short message. aiohttp's may quote the URL, which holds no
    secret (keys travel in headers, which no aiohttp message quotes)."""
    text = fields.snippet(str(error).split("\n", 1)[0])
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Http:
    """The session and the attempt loop; a venue's REST client extends it."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        policy: HttpPolicy,
        clock: Clock = time.time,
        scrub: Scrub = lambda text: text,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.wall_clock = clock
        self.scrub = scrub
        self.may_send: MaySend = always
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise VenueError(f"{self.venue}: not started (call start() first)")
        return self._session

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=self.policy.timeout, sock_connect=self.policy.connect_timeout
            )
            session = aiohttp.ClientSession(timeout=timeout)
            # aiohttp silently resends an idempotent method (a cancel's DELETE) once when a
            # pooled connection drops: writes go out exactly once, reads retry on our terms.
            session._retry_connection = False
            self._session = session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        fenced: bool = False,
    ) -> Reply:
        """One attempt, no retry, `query` already encoded. TransportError when no complete
        answer came back; NotSent, `fenced`, when `may_send()` says no."""
        what = f"{method} {path}"
        if fenced and not self.may_send():
            raise NotSent(f"{what}: not sent, this daemon does not hold the lease")
        url = URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)
        sent_at = self.wall_clock()
        try:
            async with self.session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as response:
                raw = await response.read()
                status, received = response.status, CIMultiDict(response.headers)
        except TimeoutError:
            raise TransportError(f"{what}: timed out after {self.policy.timeout}s") from None
        except (aiohttp.ClientError, HttpProcessingError, OSError) as e:
            raise TransportError(f"{what}: {self.scrub(describe(e))}") from None
        log.debug("%s %s -> HTTP %s", self.venue, what, status)
        return Reply(status, raw, received, sent_at, self.wall_clock())

    async def retry(self, what: str, attempt: Callable[[], Awaitable[T | Retry]]) -> T:
        """The first answer of `attempt()` that is not a Retry, pausing with back-off between
        attempts and counting transport trouble as a Retry; VenueError once they are spent."""
        backoff = Backoff(self.policy.backoff, self.policy.backoff_max)
        trouble = "no attempt"
        for number in range(self.policy.read_attempts):
            try:
                result = await attempt()
            except TransportError as e:
                result = Retry(str(e))
            if not isinstance(result, Retry):
                return result
            trouble = result.trouble
            if result.pause and number + 1 < self.policy.read_attempts:
                await backoff.wait()
        raise VenueError(
            f"{self.venue} {what}: gave up after {self.policy.read_attempts} attempts: {trouble}"
        )
