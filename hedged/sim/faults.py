"""The simulators' one fault vocabulary, and the faults armed on a venue for its next calls.

A fault is armed for a target and its next N matching calls (None: until cleared). In
process (`SimVenue`) the target is a port call (`place`, `quote`, ...); over the wire it is an
HTTP path (exact, or a prefix ending in `*`) and optionally a method, or `triggered`: the
market order a trigger order becomes when it fires (REJECT and PARTIAL only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from hedged.model import ZERO
from hedged.sim.records import Firing, SimOrder

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    LATENCY = "latency"  # the call takes `seconds` longer, then proceeds
    ERROR_5XX = "error_5xx"  # the venue answers an error without acting (in process: reads)
    RATE_LIMIT = "rate_limit"  # 429 with the venue's headers, without acting (wire only)
    DROP = "drop"  # the request never arrives: nothing done, nothing answered
    ACCEPT_THEN_TIMEOUT = "accept_then_timeout"  # the venue acts, the answer is lost
    # No answer; the venue acts `seconds` later, if the request's signature window allows.
    LATE = "late"
    REJECT = "reject"  # the venue's definite refusal, without acting
    PARTIAL = "partial"  # a taker order fills only `fraction` of its quantity
    STALE = "stale"  # price streams stop pushing while armed


ALL_KINDS = frozenset(FaultKind)


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    target: str = "*"  # a port call, or an HTTP path (exact, or a prefix ending in `*`)
    method: str | None = None  # the HTTP method; None: any
    remaining: int | None = 1  # calls left; None: until cleared
    seconds: float = 0.0
    fraction: Decimal = ZERO

    def matches(self, target: str, method: str | None) -> bool:
        if self.method is not None and (method is None or self.method.upper() != method.upper()):
            return False
        if self.target.endswith("*"):
            return target.startswith(self.target[:-1])
        return target == self.target


@dataclass
class ArmedFaults:
    """The faults armed on one venue; each matching call uses one of every fault it hits."""

    armed: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        self.armed.append(fault)
        return fault

    def clear(self, target: str | None = None) -> None:
        self.armed = [f for f in self.armed if target is not None and f.target != target]

    def consume(
        self, target: str, method: str | None = None, kinds: Collection[FaultKind] = ALL_KINDS
    ) -> list[Fault]:
        """The faults of `kinds` that hit this call, each used once."""
        hit = [f for f in self.armed if f.kind in kinds and f.matches(target, method)]
        for f in hit:
            if f.remaining is not None:
                f.remaining -= 1
        self.armed = [f for f in self.armed if f.remaining is None or f.remaining > 0]
        return hit

    def armed_kind(self, kind: FaultKind) -> bool:
        return any(f.kind is kind for f in self.armed)


WRITES = frozenset({"place", "cancel"})
READS = frozenset(
    {
        "rules",
        "quote",
        "query",
        "open_orders",
        "position",
        "fills",
        "funding_info",
        "funding_payments",
    }
)
STREAMS = frozenset({"quotes"})
CALLS_OF = {  # the port calls each kind applies to in process
    FaultKind.REJECT: WRITES,
    FaultKind.ACCEPT_THEN_TIMEOUT: WRITES,
    FaultKind.DROP: WRITES,
    FaultKind.LATE: WRITES,
    FaultKind.ERROR_5XX: READS,
    FaultKind.PARTIAL: frozenset({"place"}),
    FaultKind.LATENCY: WRITES | READS | STREAMS,
    FaultKind.STALE: STREAMS,
    FaultKind.RATE_LIMIT: frozenset(),
}


class Faults(ArmedFaults):
    """Faults on the port calls of an in-process venue; for `quotes`, each book update counts
    as a call."""

    def arm(
        self,
        call: str,
        kind: FaultKind | str,
        times: int | None = 1,
        *,
        fraction: Decimal = ZERO,
        seconds: float = 0.0,
    ) -> Fault:
        kind = FaultKind(kind)
        if call not in CALLS_OF[kind]:
            raise ValueError(f"fault {kind} does not apply to {call}")
        return self.add(Fault(kind, call, None, times, seconds, fraction))

    def take(self, call: str) -> list[Fault]:
        return self.consume(call)


REQUEST_KINDS = ALL_KINDS - {FaultKind.STALE}
TRIGGERED = "triggered"  # the wire target of a trigger order as it fires (no request of its own)
FIRING_KINDS = frozenset({FaultKind.REJECT, FaultKind.PARTIAL})


class WireFaults(ArmedFaults):
    """Faults on the HTTP requests of a wire-compatible venue server; STALE holds its price
    streams instead."""

    def __init__(self) -> None:
        super().__init__()
        self.held = HeldRequests()  # LATE requests not yet processed

    def arm(
        self,
        kind: FaultKind | str,
        path: str = "*",
        *,
        method: str | None = None,
        times: int | None = 1,
        seconds: float = 0.0,
        fraction: Decimal | str = ZERO,
    ) -> Fault:
        return self.add(Fault(FaultKind(kind), path, method, times, seconds, Decimal(fraction)))

    def take(self, method: str, path: str) -> list[Fault]:
        return self.consume(path, method, REQUEST_KINDS)

    def firing(self, order: SimOrder) -> Firing:
        """What the faults armed for `triggered` (without a method) do to a firing order."""
        hit = self.consume(TRIGGERED, None, FIRING_KINDS)
        partial = [f.fraction for f in hit if f.kind is FaultKind.PARTIAL]
        refused = any(f.kind is FaultKind.REJECT for f in hit)
        return Firing(refused, min(partial, default=None))

    @property
    def stale(self) -> bool:
        return self.armed_kind(FaultKind.STALE)


class HeldRequests:
    """Requests a venue received but acts on only later (a late delivery): each one is
    processed `seconds` after it arrived, or at `deliver_now`, by the venue's own checks at
    that moment."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Task[None]] = set()
        self._now = asyncio.Event()

    def hold(self, seconds: float, process: Callable[[], Awaitable[object]]) -> None:
        now = self._now

        async def later() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(now.wait(), seconds)
            try:
                await process()
            except Exception:
                log.exception("a late-delivered request failed")

        task = asyncio.create_task(later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def __len__(self) -> int:
        return len(self._pending)

    async def deliver_now(self) -> None:
        """Process every held request at once, and wait until they are."""
        self._now.set()
        self._now = asyncio.Event()
        await self.settled()

    async def settled(self) -> None:
        """Until every held request has been processed (or refused)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def cancel(self) -> None:
        """The venue goes down: what it still holds is lost."""
        for task in self._pending:
            task.cancel()
