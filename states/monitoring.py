"""MONITORING: both legs open, each with its backstop resting. When a leg's loss reaches the
stop, close it at market (or find its backstop fired); the other leg then gets its
take-profit in LIMIT_SET."""

from __future__ import annotations

from hedged.crashpoints import crashpoint
from hedged.i18n import _
from hedged.legs import VENUES, symbol_of
from hedged.states import backstop
from hedged.states.context import BACKSTOP, STOP, Move, RoundContext, describe_pnl, log
from hedged.states.machine import Trigger
from hedged.triggers import Level, any_price, stop_level


def watch(ctx: RoundContext) -> list[Level]:
    """The prices at which a leg would stop out; while a venue's price is stale, its next."""
    levels = [stop_level(leg, ctx.strategy.stop_loss) for leg in ctx.legs.values() if leg.is_open]
    return levels + [any_price(v, symbol_of(ctx.round, v)) for v in VENUES if not ctx.quote(v)]


def resting(ctx: RoundContext) -> bool:
    """Only a price can move it now: no stop under way, nothing to follow but the backstops
    resting in line (the slow poll reads those back)."""
    return (
        not ctx.of(STOP)
        and all(o.purpose == BACKSTOP for o in ctx.live())
        and backstop.in_line(ctx)
    )


async def step(ctx: RoundContext) -> Move | None:
    unprotected = await backstop.align(ctx)
    if unprotected is not None:
        return unprotected
    if not ctx.of(STOP):
        legs = ctx.legs
        gone = [v for v in VENUES if not legs[v].is_open]
        if gone:  # no stop of ours: the venue's backstop closed it
            return _backstop_fired(ctx, gone[0])
        if ctx.deadline_passed:
            return Move(Trigger.TIME_LIMIT, "time limit")
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
        if await backstop.fired(ctx, legs[loser]):
            return _backstop_fired(ctx, loser)
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
        # the rest of a partial fill, or again after a refusal
        if verdict:
            await ctx.submit([ctx.close_intent(leg, STOP)])
        return None
    crashpoint("after_stop_fill")
    return Move(Trigger.LEG_STOPPED, ctx.round.reason)


def _backstop_fired(ctx: RoundContext, venue: str) -> Move:
    log.warning(_("round %s: backstop fired on %s"), ctx.id, venue, extra=ctx.log_fields)
    return Move(Trigger.LEG_STOPPED, f"backstop fired on {venue}")
