"""What the wire-compatible venue servers share: the accounts file and fault injection.

Faults are armed per venue through `WireFaults.arm` (tests) or the admin endpoint
(`POST /_admin/faults`), each for a path (exact, or a prefix ending in `*`), an optional HTTP
method, and the next N matching requests (None: until cleared).
"""

from __future__ import annotations

import asyncio
import math
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiohttp import web

from hedged.sim.faults import HeldRequests


class WireFaultKind(StrEnum):
    LATENCY = "latency"  # wait `seconds`, then handle normally
    ERROR_5XX = "error_5xx"  # answer 503 without acting
    RATE_LIMIT = "rate_limit"  # answer 429 with the venue's headers, without acting
    DROP = "drop"  # close the connection without acting or answering
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"  # act, then close without answering
    LATE = "late"  # close without answering; act `seconds` later, checking the signature then
    REJECT = "reject"  # answer the venue's definite order rejection, without acting
    PARTIAL = "partial"  # a market order fills only `fraction` of its quantity
    STALE = "stale"  # price streams stop pushing while armed (path "*")


@dataclass
class WireFault:
    kind: WireFaultKind
    path: str = "*"
    method: str | None = None
    remaining: int | None = 1
    seconds: float = 0.0
    fraction: Decimal = Decimal(0)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path


@dataclass
class WireFaults:
    armed: list[WireFault] = field(default_factory=list)
    held: HeldRequests = field(default_factory=HeldRequests)  # LATE requests not yet processed

    def arm(
        self,
        kind: WireFaultKind | str,
        path: str = "*",
        *,
        method: str | None = None,
        times: int | None = 1,
        seconds: float = 0.0,
        fraction: Decimal | str = Decimal(0),
    ) -> WireFault:
        fault = WireFault(WireFaultKind(kind), path, method, times, seconds, Decimal(fraction))
        self.armed.append(fault)
        return fault

    def clear(self) -> None:
        self.armed.clear()

    def take(self, method: str, path: str) -> list[WireFault]:
        """The faults that hit this request, each used once."""
        hit = [
            f for f in self.armed if f.kind is not WireFaultKind.STALE and f.matches(method, path)
        ]
        for f in hit:
            if f.remaining is not None:
                f.remaining -= 1
        self.armed = [f for f in self.armed if f.remaining is None or f.remaining > 0]
        return hit

    @property
    def stale(self) -> bool:
        return any(f.kind is WireFaultKind.STALE for f in self.armed)


# A venue's own answers for the faults that answer: (status, body, headers).
Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class VenueAnswers:
    rate_limited: Callable[[], Answer]
    unavailable: Callable[[], Answer]
    rejected: Callable[[], Answer]


FAULTS_KEY = web.AppKey("faults", WireFaults)
PARTIAL_KEY = web.RequestKey("partial_fraction", Decimal)  # the fill fraction a PARTIAL fault set


def fault_middleware(faults: WireFaults, answers: VenueAnswers) -> Any:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_admin"):
            return await handler(request)
        after: list[WireFault] = []
        late: WireFault | None = None
        for f in faults.take(request.method, request.path):
            match f.kind:
                case WireFaultKind.LATENCY:
                    await asyncio.sleep(f.seconds)
                case WireFaultKind.ERROR_5XX:
                    return _answer(answers.unavailable())
                case WireFaultKind.RATE_LIMIT:
                    status, body, headers = answers.rate_limited()
                    if f.seconds:  # an injected limit may ask for a shorter pause
                        headers = headers | {"Retry-After": str(math.ceil(f.seconds))}
                    return _answer((status, body, headers))
                case WireFaultKind.REJECT:
                    return _answer(answers.rejected())
                case WireFaultKind.DROP:
                    _drop(request)
                    raise asyncio.CancelledError
                case WireFaultKind.PARTIAL:
                    request[PARTIAL_KEY] = f.fraction
                case WireFaultKind.ACCEPT_THEN_TIMEOUT:
                    after.append(f)
                case WireFaultKind.LATE:
                    late = f
        if late is not None:
            await request.read()  # the body is cached: the handler reads it after the drop
            faults.held.hold(late.seconds, lambda: handler(request))
            _drop(request)
            raise asyncio.CancelledError
        response = await handler(request)
        if after:
            _drop(request)
            raise asyncio.CancelledError
        return response

    return middleware


def _answer(answer: Answer) -> web.Response:
    status, body, headers = answer
    return web.json_response(body, status=status, headers=headers)


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def admin_faults(request: web.Request) -> web.Response:
    """POST: arm {"kind", "path", "method", "times", "seconds", "fraction"}; DELETE: clear;
    GET: how many faults are armed and how many late requests are still held."""
    faults = request.app[FAULTS_KEY]
    if request.method == "GET":
        return web.json_response({"armed": len(faults.armed), "held": len(faults.held)})
    if request.method == "DELETE":
        faults.clear()
        return web.json_response({"armed": 0})
    spec = await request.json()
    try:
        faults.arm(
            spec["kind"],
            spec.get("path", "*"),
            method=spec.get("method"),
            times=spec.get("times", 1),
            seconds=float(spec.get("seconds", 0)),
            fraction=str(spec.get("fraction", "0")),
        )
    except (KeyError, ValueError) as e:
        return web.json_response({"error": f"bad fault spec: {e}"}, status=400)
    return web.json_response({"armed": len(faults.armed)})


# -- accounts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsterV1Key:
    api_key: str
    secret: str
    account: str


@dataclass(frozen=True)
class AsterAgent:
    user: str  # main wallet address
    signer: str  # approved agent (API wallet) address
    account: str


@dataclass(frozen=True)
class BackpackKey:
    public_key: str  # base64 ED25519 verifying key
    account: str


@dataclass
class Accounts:
    aster_v1: dict[str, AsterV1Key] = field(default_factory=dict)  # by api key
    aster_agents: dict[str, AsterAgent] = field(default_factory=dict)  # by signer, lowercase
    backpack: dict[str, BackpackKey] = field(default_factory=dict)  # by public key
    balances: dict[str, Decimal] = field(default_factory=dict)  # account -> starting balance


class AccountsError(ValueError):
    pass


def load_accounts(path: Path) -> Accounts:
    """The simulator's accounts file (TOML):

    [[account]]
    name = "alice"
    balance = "10000"
    aster_api_key = "..."          # V1: key and secret (optional)
    aster_api_secret = "..."
    aster_user = "0x..."           # V3: main wallet and agent address (optional)
    aster_signer = "0x..."
    backpack_public_key = "..."    # base64 ED25519 public key (optional)
    """
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AccountsError(f"{path}: {e}") from None
    accounts = Accounts()
    for i, a in enumerate(data.get("account", [])):
        name = a.get("name")
        if not isinstance(name, str) or not name:
            raise AccountsError(f"{path}: account[{i}].name: missing")
        accounts.balances[name] = Decimal(str(a.get("balance", "10000")))
        if "aster_api_key" in a:
            accounts.aster_v1[a["aster_api_key"]] = AsterV1Key(
                a["aster_api_key"], a["aster_api_secret"], name
            )
        if "aster_signer" in a:
            accounts.aster_agents[a["aster_signer"].lower()] = AsterAgent(
                a["aster_user"], a["aster_signer"], name
            )
        if "backpack_public_key" in a:
            accounts.backpack[a["backpack_public_key"]] = BackpackKey(
                a["backpack_public_key"], name
            )
    return accounts
