"""What a round's volume cost: fees (maker and taker), slippage against the price each
order was decided on, funding, and the realized PnL they add up to, per round and summed per
day (`hedgectl history`, docs/architecture.md#the-cost-of-volume)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from hedged.legs import VENUES
from hedged.model import ZERO, Side

TEN_THOUSAND = Decimal(10_000)


class Decided(Protocol):
    """An order as far as its slippage goes: a stored order row, or its figures alone."""

    @property
    def side(self) -> str: ...
    @property
    def filled_qty(self) -> Decimal: ...
    @property
    def avg_price(self) -> Decimal | None: ...
    @property
    def decision_price(self) -> Decimal | None: ...


class Traded(Protocol):
    """A fill as far as its round's costs go: a stored fill row, or its figures alone."""

    @property
    def venue(self) -> str: ...
    @property
    def qty(self) -> Decimal: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def fee(self) -> Decimal: ...
    @property
    def maker(self) -> bool: ...


def slippage(order: Decided) -> Decimal:
    """What the order's fills cost beyond the price it was decided on, in the quote asset:
    positive when a buy paid more or a sell got less (0 without a decision price)."""
    if order.decision_price is None or order.avg_price is None or order.filled_qty <= 0:
        return ZERO
    cost = (order.avg_price - order.decision_price) * order.filled_qty * Side(order.side).sign
    return abs(cost) if cost == 0 else cost  # never "-0.00": a sell filled at its decision


@dataclass(frozen=True, slots=True)
class Costs:
    volume: dict[str, Decimal] = field(default_factory=lambda: {v: ZERO for v in VENUES})
    maker_fees: Decimal = ZERO
    taker_fees: Decimal = ZERO
    slippage: Decimal = ZERO
    funding: Decimal = ZERO  # received (+) or paid (-) while the legs were open
    realized_pnl: Decimal = ZERO  # after fees and funding

    @property
    def fees(self) -> Decimal:
        return self.maker_fees + self.taker_fees

    @property
    def total_volume(self) -> Decimal:
        return sum(self.volume.values(), ZERO)

    @property
    def cost_per_10k(self) -> Decimal | None:
        """What 10,000 USDT of volume cost (the realized loss per unit of volume; negative
        when the rounds made money)."""
        if not self.total_volume:
            return None
        return (-self.realized_pnl * TEN_THOUSAND / self.total_volume).quantize(Decimal("0.0001"))

    def __add__(self, other: Costs) -> Costs:
        return Costs(
            volume={v: self.volume.get(v, ZERO) + other.volume.get(v, ZERO) for v in VENUES},
            maker_fees=self.maker_fees + other.maker_fees,
            taker_fees=self.taker_fees + other.taker_fees,
            slippage=self.slippage + other.slippage,
            funding=self.funding + other.funding,
            realized_pnl=self.realized_pnl + other.realized_pnl,
        )


def costs_of(
    orders: Iterable[Decided], fills: Iterable[Traded], realized_pnl: Decimal, funding: Decimal
) -> Costs:
    """One round's costs from its orders and fills as the venues reported them."""
    volume = {v: ZERO for v in VENUES}
    maker = taker = ZERO
    for f in fills:
        volume[f.venue] = volume.get(f.venue, ZERO) + f.qty * f.price
        if f.maker:
            maker += f.fee
        else:
            taker += f.fee
    return Costs(
        volume=volume,
        maker_fees=maker,
        taker_fees=taker,
        slippage=sum((slippage(o) for o in orders), ZERO),
        funding=funding,
        realized_pnl=realized_pnl,
    )


def total(costs: Iterable[Costs]) -> Costs:
    return sum(costs, Costs())
