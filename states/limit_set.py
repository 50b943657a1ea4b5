"""LIMIT_SET: the losing leg is closed; the winner rests a reduce-only take-profit at
entry * (1 +/- take_profit) beside its backstop, and is still stopped out if its own loss
reaches the stop (or its backstop fires)."""

from __future__ import annotations

from hedged.crashpoints import crashpoint
from hedged.i18n import _
from hedged.states import backstop, take_profit
from hedged.states.context import BACKSTOP, STOP, TAKE_PROFIT, Move, RoundContext, describe_pnl, log
from hedged.states.machine import Trigger
from hedged.triggers import Level, any_price, fill_level, stop_level


def watch(ctx: RoundContext) -> list[Level]:
    """Where the remaining leg would stop out, or its take-profit could fill; while its
    venue's price is stale, its next."""
    levels = []
    for leg in ctx.legs.values():
        if leg.is_open:
            levels.append(stop_level(leg, ctx.strategy.stop_loss))
            levels += [fill_level(leg, o.price) for o in ctx.live(TAKE_PROFIT) if o.price]
            if not ctx.quote(leg.venue) or take_profit.maker_phase(ctx):
                levels.append(any_price(leg.venue, leg.symbol))  # (the touch it follows)
    return levels


def resting(ctx: RoundContext) -> bool:
    """A take-profit rests beside the backstop, both known to the venue, and does not adapt:
    only a price, a fill or the deadline can move it now."""
    return (
        bool(ctx.live(TAKE_PROFIT))
        and not take_profit.adaptive(ctx)  # a moving target: the slow timer re-prices it
        and all(o.purpose in (TAKE_PROFIT, BACKSTOP) and not o.unresolved for o in ctx.live())
        and backstop.in_line(ctx)
    )


def _flat(ctx: RoundContext) -> Move:
    """The survivor is closed: by its take-profit, or by its backstop."""
    venue = next((o.venue for o in ctx.of(TAKE_PROFIT) if o.filled_qty > 0), None)
    if venue is not None:
        log.info("round %s: take-profit filled on %s", ctx.id, venue, extra=ctx.log_fields)
        return Move(Trigger.TP_FILLED, f"take-profit on {venue}")
    stops = ctx.of(STOP)
    fired = [o.venue for o in ctx.of(BACKSTOP) if o.filled_qty > 0]
    loser = stops[0].venue if stops else fired[0] if fired else None
    survivor = next((v for v in fired if v != loser), None)
    if survivor is not None:
        log.warning(_("round %s: backstop fired on %s"), ctx.id, survivor, extra=ctx.log_fields)
        return Move(Trigger.SECOND_STOP, f"backstop fired on {survivor}")
    return Move(Trigger.TP_FILLED, ctx.round.reason)


async def step(ctx: RoundContext) -> Move | None:
    unprotected = await backstop.align(ctx)
    if unprotected is not None:
        return unprotected
    survivors = [leg for leg in ctx.legs.values() if leg.is_open]
    if not survivors:  # the order stream already saw the take-profit fill
        return _flat(ctx)
    leg = survivors[0]
    quote = ctx.quote(leg.venue)
    resting = ctx.live(TAKE_PROFIT)
    crossed = quote is not None and any(
        o.price is not None
        and quote.exit_price(leg.side) * leg.side.sign >= o.price * leg.side.sign
        for o in resting
    )
    if resting and (crossed or ctx.poll_due):
        await ctx.refresh_live(TAKE_PROFIT)
        leg = ctx.legs[leg.venue]
        if not leg.is_open:
            return _flat(ctx)
    if ctx.deadline_passed:
        return Move(Trigger.TIME_LIMIT, "time limit")
    if quote is not None and leg.pnl_pct(quote) <= -ctx.strategy.stop_loss:
        if await backstop.fired(ctx, leg):
            return _flat(ctx)
        log.info(
            "round %s: second stop-loss on %s",
            ctx.id,
            describe_pnl(leg, quote),
            extra=ctx.log_fields,
        )
        return Move(Trigger.SECOND_STOP, f"stop-loss on both legs ({leg.venue} last)")
    where = take_profit.target(ctx, leg)
    resting = ctx.live(TAKE_PROFIT)
    if resting and take_profit.due(ctx, resting[0], where):
        log.info(
            "round %s: re-pricing the take-profit %s @ %s to %s%s",
            ctx.id,
            resting[0].client_id,
            resting[0].price,
            where.price,
            " (post-only)" if where.post_only else "",
            extra=ctx.log_fields,
        )
        await ctx.desk.cancel(resting[0])  # read back: a fill that beat the cancel counts
        crashpoint("take_profit_repriced")
        ctx.reload()
        leg = ctx.legs[leg.venue]
        if not leg.is_open:
            return _flat(ctx)
    if not ctx.live(TAKE_PROFIT):
        verdict = ctx.may_send(TAKE_PROFIT, leg.venue)
        if isinstance(verdict, Move):
            return verdict
        if not verdict:
            return None
        (tp,) = await ctx.submit([take_profit.intent(ctx, leg, where)])
        log.info(
            "round %s: take-profit %s %s %s @ %s on %s (%s)",
            ctx.id,
            tp.side,
            tp.qty,
            tp.symbol,
            tp.price,
            tp.venue,
            tp.status,
            extra=ctx.log_fields,
        )
        crashpoint("take_profit_resting")
    return None
