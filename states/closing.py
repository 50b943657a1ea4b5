"""CLOSING: cancel the round's resting orders, close open legs at market, then cancel their
backstops, and finish when the venues report every leg flat and every order final (a late
fill may still arrive after a cancel, so both are read back, never assumed) and the legs'
funding up to their close is collected: realized PnL is fills - fees + funding."""

from __future__ import annotations

from hedged.crashpoints import crashpoint
from hedged.legs import realized
from hedged.states import backstop
from hedged.states.context import BACKSTOP, CLOSE, Move, RoundContext, log
from hedged.states.machine import Trigger


async def step(ctx: RoundContext) -> Move | None:
    for o in ctx.live():
        if o.purpose not in (CLOSE, BACKSTOP):  # a backstop stays until its leg is flat
            await ctx.desk.cancel(o)
    crashpoint("closing_after_cancel")
    await ctx.refresh_live(CLOSE)
    if any(o.purpose != BACKSTOP for o in ctx.live()):
        return None
    open_legs = [leg for leg in ctx.legs.values() if leg.is_open]
    if open_legs:
        sendable = []
        for leg in open_legs:
            verdict = ctx.may_send(CLOSE, leg.venue)
            if isinstance(verdict, Move):
                return verdict
            if verdict:
                sendable.append(leg)
        if sendable:
            await ctx.submit([ctx.close_intent(leg, CLOSE) for leg in sendable])
        return None
    await backstop.align(ctx, place=False)  # every leg is flat: their backstops go
    if ctx.live():
        return None
    for o in ctx.orders:
        if o.filled_qty > 0:
            await ctx.desk.collect_fills(o)
    fills = ctx.store.fills_of(ctx.id)
    funding = ctx.funding.finished(ctx.round, fills)
    if funding is None:  # its venues' funding histories are being read
        return None
    result = realized(fills)
    log.info(
        "round %s done: %s, realized PnL %s (fees %s, funding %s, volume %s)",
        ctx.id,
        ctx.round.reason,
        result.pnl + funding,
        result.fees,
        funding,
        result.volume,
        extra=ctx.log_fields,
    )
    return Move(
        Trigger.FLAT,
        ctx.round.reason,
        {
            "realized_pnl": result.pnl + funding,
            "fees": result.fees,
            "volume": result.volume,
            "ended_at": ctx.now,
        },
    )
