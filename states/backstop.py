"""Backstops: a reduce-only stop order resting on each open leg's own venue at
`strategy.backstop_stop` beyond its entry, so that the leg keeps a stop while no daemon runs
(docs/architecture.md#backstops).

Every live state keeps them in line with the legs: placed once a leg is open, replaced when
its quantity changes, cancelled (and the cancel read back) once it is closed. A backstop the
venue refuses leaves its leg unprotected: the round closes rather than run a leg without the
protection the operator asked for. One that fired is its leg's exit, like a software stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from hedged.adapters.base import UNHEARD
from hedged.i18n import _
from hedged.legs import Leg
from hedged.model import OrderType
from hedged.orders import Intent
from hedged.states.context import BACKSTOP, CLOSE, STOP, Move, RoundContext, log
from hedged.states.machine import Trigger
from hedged.store import OrderRow


def level(ctx: RoundContext, leg: Leg) -> Decimal:
    """The trigger: `backstop_stop` beyond the entry on the losing side, on the venue's tick
    (rounded toward the entry)."""
    assert leg.entry_price is not None
    target = leg.entry_price * (1 - ctx.strategy.backstop_stop * leg.side.sign)
    return ctx.rules[leg.venue].price_toward(target, leg.side.opposite)


def intent(ctx: RoundContext, leg: Leg) -> Intent:
    return Intent(
        leg.venue,
        leg.symbol,
        leg.side.opposite,
        leg.qty,
        BACKSTOP,
        OrderType.STOP_MARKET,
        reduce_only=True,
        trigger_price=level(ctx, leg),
    )


def fits(ctx: RoundContext, legs: Mapping[str, Leg], order: OrderRow) -> bool:
    """Whether a live backstop is the one its leg needs now: the first on its venue, of the
    leg's quantity, at the leg's level."""
    leg = legs[order.venue]
    return (
        leg.is_open
        and order is ctx.live(BACKSTOP, order.venue)[0]
        and order.qty == leg.qty
        and order.trigger_price == level(ctx, leg)
    )


def in_line(ctx: RoundContext) -> bool:
    """Every open leg has its backstop resting, known to the venue, and nothing else rests."""
    if not ctx.strategy.backstop_stop:
        return True
    legs = ctx.legs
    live = ctx.live(BACKSTOP)
    return all(not o.unresolved and fits(ctx, legs, o) for o in live) and len(live) == sum(
        leg.is_open for leg in legs.values()
    )


async def align(ctx: RoundContext, *, place: bool = True) -> Move | None:
    """Bring the backstops in line with the legs; with `place` false (CLOSING) only cancel
    those of closed legs. A Move when the round must close: a venue refused a backstop."""
    if not ctx.strategy.backstop_stop:
        return None
    unsure = [o for o in ctx.live(BACKSTOP) if o.unresolved]
    for o in unsure:  # settle it before deciding anything about its leg
        await ctx.desk.refresh(o)
    if unsure:
        ctx.reload()
    legs = ctx.legs
    stale = [
        o
        for o in ctx.live(BACKSTOP)
        if (not fits(ctx, legs, o) if place else not legs[o.venue].is_open)
    ]
    for o in stale:
        log.info(
            "round %s: cancelling %s backstop %s (%s)",
            ctx.id,
            o.venue,
            o.client_id,
            "leg changed" if legs[o.venue].is_open else "leg closed",
            extra=ctx.log_fields,
        )
        await ctx.desk.cancel(o)  # reads it back: a fill that beat the cancel is an exit
    if stale:
        ctx.reload()
    if not place:
        return None
    needed = []
    exiting = {o.venue for o in ctx.live() if o.purpose in (STOP, CLOSE)}
    for leg in ctx.legs.values():
        if not leg.is_open or ctx.live(BACKSTOP, leg.venue) or leg.venue in exiting:
            continue  # (a leg whose market exit is under way gets none: it is about to close)
        refused = _refused(ctx, leg)
        if refused is not None:
            return refused
        verdict = ctx.may_send(BACKSTOP, leg.venue)
        if isinstance(verdict, Move):
            return verdict
        if verdict:
            needed.append(intent(ctx, leg))
    if needed:
        for o in await ctx.submit(needed):
            log.info(
                "round %s: backstop %s %s %s, trigger %s on %s (%s)",
                ctx.id,
                o.side,
                o.qty,
                o.symbol,
                o.trigger_price,
                o.venue,
                o.status,
                extra=ctx.log_fields,
            )
    return None


def _refused(ctx: RoundContext, leg: Leg) -> Move | None:
    """The venue's own refusal of this leg's latest backstop: the leg cannot be protected."""
    latest = ctx.of(BACKSTOP, leg.venue)[-1:]
    if not latest or latest[0].status != "REJECTED" or latest[0].reject_code in UNHEARD:
        return None
    o = latest[0]
    why = f"{leg.venue} refused the backstop {o.client_id}: {o.reject_code} {o.reject_message}"
    log.error(_("round %s: %s; closing the round"), ctx.id, why, extra=ctx.log_fields)
    return Move(Trigger.UNPROTECTED, why)


async def fired(ctx: RoundContext, leg: Leg) -> bool:
    """Before a software stop on `leg`: if the price is past its backstop's trigger, the venue
    may have fired it already; read it back first, so that a gap closes the leg once."""
    quote = ctx.quote(leg.venue)
    past = [
        o
        for o in ctx.live(BACKSTOP, leg.venue)
        if quote is not None
        and o.trigger_price is not None
        and (quote.mid - o.trigger_price) * leg.side.opposite.sign >= 0
    ]
    if not past:
        return False
    for o in past:
        await ctx.desk.refresh(o)
    ctx.reload()
    return not ctx.legs[leg.venue].is_open
