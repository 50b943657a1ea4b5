"""MONITORING: both legs open. When a leg's loss reaches the stop, close it at market;
the other leg then gets its take-profit in LIMIT_SET."""

from __future__ import annotations

from hedged.crashpoints import crashpoint
from hedged.legs import VENUES, symbol_of
from hedged.states.context import STOP, Move, RoundContext, describe_pnl, log
from hedged.states.machine import Trigger
from hedged.triggers import Level, any_price, stop_level


def watch(ctx: RoundContext) -> list[Level]:
    """The prices at which a leg would stop out; while a venue's price is stale, its next."""
    levels = [stop_level(leg, ctx.strategy.stop_loss) for leg in ctx.legs.values() if leg.is_open]
    return levels + [any_price(v, symbol_of(ctx.round, v)) for v in VENUES if not ctx.quote(v)]


def resting(ctx: RoundContext) -> bool:
    """Only a price can move it now: no stop under way, no order to follow."""
    return not ctx.of(STOP) and not ctx.live()


async def step(ctx: RoundContext) -> Move | None:
    if not ctx.of(STOP):
        if ctx.deadline_passed:
            return Move(Trigger.TIME_LIMIT, "time limit")
        legs = ctx.legs
        quotes = {v: ctx.quote(v) for v in VENUES}
        losses = []
        for v in VENUES:
            q = quotes[v]
            if q is None:
                return None  # never decide on a stale price
            losses.append((legs[v].pnl_pct(q), v))
        pnl, loser = min(losses)
        if pnl > -ctx.strategy.stop_loss:
            return None
        q = quotes[loser]
        assert q is not None
        reason = f"stop-loss on {loser} at {pnl * 100:.3f}%"
        await ctx.submit([ctx.close_intent(legs[loser], STOP)], reason=reason)
        # logged once the stop is out: formatting and writing a log line is not worth
        # delaying it for (the reason is in the intent's transaction)
        log.info(
            "round %s: stop-loss on %s", ctx.id, describe_pnl(legs[loser], q), extra=ctx.log_fields
        )

    # A stop is under way (maybe from before a restart): finish it.
    loser = ctx.of(STOP)[0].venue
    await ctx.refresh_live(STOP)
    if ctx.live(STOP):
        return None
    leg = ctx.legs[loser]
    if leg.is_open:
        verdict = ctx.may_send(STOP, loser)
        if isinstance(verdict, Move):
            return verdict
        if verdict:  # the rest of a partial fill, or again after a refusal
            await ctx.submit([ctx.close_intent(leg, STOP)])
        return None
    crashpoint("after_stop_fill")
    return Move(Trigger.LEG_STOPPED, ctx.round.reason)
