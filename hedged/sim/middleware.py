"""How armed faults hit the requests of a wire-compatible venue server (see `faults`)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from hedged.sim.faults import Fault, FaultKind, WireFaults

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
        after: list[Fault] = []
        late: Fault | None = None
        for f in faults.take(request.method, request.path):
            match f.kind:
                case FaultKind.LATENCY:
                    await asyncio.sleep(f.seconds)
                case FaultKind.ERROR_5XX:
                    return _answer(answers.unavailable())
                case FaultKind.RATE_LIMIT:
                    status, body, headers = answers.rate_limited()
                    if f.seconds:  # an injected limit may ask for a shorter pause
                        headers = headers | {"Retry-After": str(math.ceil(f.seconds))}
                    return _answer((status, body, headers))
                case FaultKind.REJECT:
                    return _answer(answers.rejected())
                case FaultKind.DROP:
                    _drop(request)
                    raise asyncio.CancelledError
                case FaultKind.PARTIAL:
                    request[PARTIAL_KEY] = f.fraction
                case FaultKind.ACCEPT_THEN_TIMEOUT:
                    after.append(f)
                case FaultKind.LATE:
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
