"""Faults a test arms on a simulated venue for its next calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    REJECT = "reject"  # a definite refusal, code INJECTED
    AMBIGUOUS_AFTER_ACCEPT = "ambiguous_after_accept"  # the venue acted, the reply was lost
    AMBIGUOUS_BEFORE = "ambiguous_before"  # the request never arrived
    # No answer; the venue acts `seconds` later, if the request's signature window allows.
    LATE = "late"
    ERROR = "error"  # a read raises VenueError
    PARTIAL = "partial"  # a taker order fills only `fraction` of its quantity
    LATENCY = "latency"  # the call takes `seconds` longer
    STALE = "stale"  # the quote stream swallows updates


WRITES = frozenset({"place", "cancel"})
READS = frozenset({"rules", "quote", "query", "open_orders", "position", "fills"})
STREAMS = frozenset({"quotes"})
METHODS_OF = {
    FaultKind.REJECT: WRITES,
    FaultKind.AMBIGUOUS_AFTER_ACCEPT: WRITES,
    FaultKind.AMBIGUOUS_BEFORE: WRITES,
    FaultKind.LATE: WRITES,
    FaultKind.ERROR: READS,
    FaultKind.PARTIAL: frozenset({"place"}),
    FaultKind.LATENCY: WRITES | READS | STREAMS,
    FaultKind.STALE: STREAMS,
}


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    remaining: int | None  # calls left; None: until cleared
    fraction: Decimal = Decimal(0)
    seconds: float = 0.0


class Faults:
    """Armed faults per venue method. Each call consumes one use of every fault armed on its
    method; for `quotes`, each book update counts as a call."""

    def __init__(self) -> None:
        self._armed: dict[str, list[Fault]] = {}

    def arm(
        self,
        method: str,
        kind: FaultKind | str,
        times: int | None = 1,
        *,
        fraction: Decimal = Decimal(0),
        seconds: float = 0.0,
    ) -> None:
        kind = FaultKind(kind)
        if method not in METHODS_OF[kind]:
            raise ValueError(f"fault {kind} does not apply to {method}")
        self._armed.setdefault(method, []).append(Fault(kind, times, fraction, seconds))

    def clear(self, method: str | None = None) -> None:
        if method is None:
            self._armed.clear()
        else:
            self._armed.pop(method, None)

    def take(self, method: str) -> list[Fault]:
        """The faults that hit this call of `method`, each used once."""
        faults = self._armed.get(method, [])
        for fault in faults:
            if fault.remaining is not None:
                fault.remaining -= 1
        self._armed[method] = [f for f in faults if f.remaining is None or f.remaining > 0]
        return list(faults)


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
