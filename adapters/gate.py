"""Orders sent together leave together: each venue client prepares and signs its request,
then waits at the gate until every other order of the batch has too (or given up), so the
requests go out back to back. Without it, the second entry leg would leave only after the
first one's whole preparation: that is the legs' time skew."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

_current: ContextVar[SendGate | None] = ContextVar("send_gate", default=None)


class SendGate:
    def __init__(self, parties: int) -> None:
        self._missing = parties
        self._open = asyncio.Event()
        self._arrived: set[asyncio.Task[object] | None] = set()

    def arrive(self) -> None:
        """This task's order is ready to leave, or will not be sent at all (once per task)."""
        task = asyncio.current_task()
        if task in self._arrived:
            return
        self._arrived.add(task)
        self._missing -= 1
        if self._missing <= 0:
            self._open.set()

    async def passage(self) -> None:
        self.arrive()
        await self._open.wait()


@asynccontextmanager
async def batch(parties: int) -> AsyncIterator[SendGate | None]:
    """Tasks started inside this block (e.g. by gather) send through one gate."""
    if parties < 2:
        yield None
        return
    gate = SendGate(parties)
    token = _current.set(gate)
    try:
        yield gate
    finally:
        _current.reset(token)


async def ready_to_send() -> None:
    """Called by a venue client with its order request prepared and signed."""
    gate = _current.get()
    if gate is not None:
        await gate.passage()


def will_not_send() -> None:
    """Called when an order's send ended one way or another: never hold the others up."""
    gate = _current.get()
    if gate is not None:
        gate.arrive()
