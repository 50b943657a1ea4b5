"""OPENING: size the round, send both entry legs at once, equalize a partial fill.

If one leg cannot be opened the other is flattened (→ CLOSING), never left naked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from hedged.config import StrategyConfig
from hedged.i18n import _
from hedged.legs import ASTER, BACKPACK, VENUES, entry_side, other_venue, symbol_of
from hedged.model import Quote, SymbolRules, floor_to
from hedged.orders import Intent
from hedged.states import backstop
from hedged.states.context import ENTRY, TRIM, Move, RoundContext, common_step, log
from hedged.states.machine import Trigger

# A market entry still open after this long is cancelled; what filled is kept.
ENTRY_PATIENCE = timedelta(seconds=10)


class SizingRefused(Exception):
    """The configured size cannot be traded on both venues."""


class NoFreshPrice(SizingRefused):
    """No size without a price: a passing condition, unlike a size the venues refuse."""


def size(
    strategy: StrategyConfig, rules: Mapping[str, SymbolRules], quotes: Mapping[str, Quote | None]
) -> Decimal:
    """position_size_usdt / price, rounded down to a quantity both venues accept."""
    missing = [v for v, q in quotes.items() if q is None]
    if missing:
        raise NoFreshPrice(f"no fresh price from {', '.join(missing)}")
    price = max(q.ask for q in quotes.values() if q is not None)
    qty = hedge_qty(rules, strategy.position_size_usdt / price)
    for v in VENUES:
        q = quotes[v]
        assert q is not None
        refusal = rules[v].refusal(qty, q.bid)
        if refusal:
            raise SizingRefused(
                f"position_size_usdt {strategy.position_size_usdt} buys {qty} at {price}: {refusal}"
            )
    return qty


def hedge_qty(rules: Mapping[str, SymbolRules], qty: Decimal) -> Decimal:
    """Round down to a quantity that is a whole number of steps on both venues."""
    return floor_to(qty, common_step(rules[ASTER].step, rules[BACKPACK].step))


async def step(ctx: RoundContext) -> Move | None:
    if not ctx.of(ENTRY):
        refused = await send_entries(ctx)
        if refused is not None:
            return refused
    if ctx.live(ENTRY):
        # What became of an entry may take long to learn (an answer lost, the venue not
        # answering lookups): a leg that filled meanwhile rests its backstop now.
        unprotected = await backstop.align(ctx)
        if unprotected is not None:
            return unprotected
    if not await entries_settled(ctx):
        return None
    return entry_failure(ctx) or await equalize(ctx)


async def send_entries(ctx: RoundContext) -> Move | None:
    """Size the round and send both entry legs at once; a refused size ends the round."""
    try:
        qty = size(ctx.strategy, ctx.rules, {v: ctx.quote(v) for v in VENUES})
    except SizingRefused as e:
        log.error(_("round %s not opened: %s"), ctx.id, e, extra=ctx.log_fields)
        return Move(Trigger.ENTRY_FAILED, f"not opened: {e}")
    ctx.update_round(qty=qty)
    short = ctx.round.short_venue
    log.info(
        "round %s opening: short %s %s on %s, long on %s",
        ctx.id,
        qty,
        symbol_of(ctx.round, short),
        short,
        other_venue(short),
        extra=ctx.log_fields,
    )
    await ctx.submit(
        [Intent(v, symbol_of(ctx.round, v), entry_side(ctx.round, v), qty, ENTRY) for v in VENUES]
    )
    return None


async def entries_settled(ctx: RoundContext) -> bool:
    """Whether no entry is still working; one open longer than ENTRY_PATIENCE is cancelled
    (what filled is kept)."""
    await ctx.refresh_live(ENTRY)
    for o in ctx.live(ENTRY):
        if ctx.since(o.created_at) > ENTRY_PATIENCE:
            log.warning(
                _("round %s: %s entry %s not filled in time; cancelling"),
                ctx.id,
                o.venue,
                o.client_id,
                extra=ctx.log_fields,
            )
            await ctx.desk.cancel(o)
    ctx.reload()
    return not ctx.live(ENTRY)


def entry_failure(ctx: RoundContext) -> Move | None:
    """A leg that got nothing: the round flattens the other (→ CLOSING)."""
    legs = ctx.legs
    unfilled = [v for v in VENUES if legs[v].entered == 0]
    if not unfilled:
        return None
    why = "; ".join(
        f"{o.venue}: {o.status} {o.reject_code or ''} {o.reject_message or ''}".strip()
        for o in ctx.of(ENTRY)
        if o.venue in unfilled
    )
    log.error(
        _("round %s: entry failed (%s); flattening the other leg"),
        ctx.id,
        why,
        extra=ctx.log_fields,
    )
    return Move(Trigger.ENTRY_FAILED, f"entry failed: {why}")


async def equalize(ctx: RoundContext) -> Move | None:
    """Equal legs, each with its backstop resting, open the round (→ MONITORING); after a
    partial fill the larger leg(s) are trimmed down to a quantity both venues accept."""
    await ctx.refresh_live(TRIM)
    if ctx.live(TRIM):
        return None
    legs = ctx.legs
    if legs[ASTER].qty == legs[BACKPACK].qty:
        unprotected = await backstop.align(ctx)
        if unprotected is not None or not backstop.in_line(ctx):
            return unprotected  # the backstops rest before the round is open
        opened = ctx.now
        return Move(
            Trigger.ENTRIES_FILLED,
            fields={
                "qty": legs[ASTER].qty,
                "opened_at": opened,
                "deadline_at": opened + timedelta(seconds=ctx.strategy.max_round_seconds),
            },
        )
    target = hedge_qty(ctx.rules, min(legs[v].qty for v in VENUES))
    refusals = [ctx.rules[v].refusal(target, legs[v].entry_price or Decimal(0)) for v in VENUES]
    if target == 0 or any(refusals):
        why = f"legs filled {legs[ASTER].qty} / {legs[BACKPACK].qty}, too little to hedge"
        log.error(_("round %s: %s; flattening"), ctx.id, why, extra=ctx.log_fields)
        return Move(Trigger.ENTRY_FAILED, why)
    log.warning(
        _("round %s: partial fill %s / %s, trimming to %s"),
        ctx.id,
        legs[ASTER].qty,
        legs[BACKPACK].qty,
        target,
        extra=ctx.log_fields,
    )
    trims = []
    for v in VENUES:
        if legs[v].qty > target:
            verdict = ctx.may_send(TRIM, v)
            if isinstance(verdict, Move):
                return verdict
            if verdict:
                trims.append(v)
    if trims:
        await ctx.submit(
            [
                Intent(
                    v,
                    legs[v].symbol,
                    legs[v].side.opposite,
                    legs[v].qty - target,
                    TRIM,
                    reduce_only=True,
                )
                for v in trims
            ]
        )
    return None
