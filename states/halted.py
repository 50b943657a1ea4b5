"""HALTED: the venue showed something the daemon cannot explain. It stops acting on the
round; only an operator command (`resume` or `close`) moves it on."""

from __future__ import annotations

from hedged.states.context import Move, RoundContext


async def step(ctx: RoundContext) -> Move | None:
    return None
