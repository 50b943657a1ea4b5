"""The funding decisions on their own: which venue the short goes on, and which settlement
ahead would cost the hedge (no venue, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from hedged.carry import Settlement, choose, costly_settlement
from hedged.legs import ASTER, BACKPACK
from hedged.model import FundingInfo

D = Decimal
NOW = datetime(2026, 12, 7, 7, 50, tzinfo=UTC)
SYMBOLS = {ASTER: "SOLUSDT", BACKPACK: "SOL_USDC_PERP"}


def info(venue: str, rate: str, hours: str, in_seconds: float = 600) -> FundingInfo:
    return FundingInfo(SYMBOLS[venue], D(rate), D(hours), NOW + timedelta(seconds=in_seconds))


@pytest.mark.parametrize(
    ("aster", "backpack", "short", "carry"),
    [
        # Aster pays the more per hour: the short there receives it, the long pays Backpack's
        (("0.0004", "8"), ("0.00001", "1"), ASTER, "0.00004"),
        # per interval Aster's rate is the larger, per hour Backpack's: the short goes there
        (("0.0001", "8"), ("0.00002", "1"), BACKPACK, "0.0000075"),
        # negative rates: shorts pay longs; the short goes where it pays the less
        (("-0.0008", "8"), ("-0.00002", "1"), BACKPACK, "0.00008"),
        (("-0.00008", "4"), ("-0.0001", "1"), ASTER, "0.00008"),
        # a tie: the original strategy
        (("0.0008", "8"), ("0.0001", "1"), ASTER, "0"),
    ],
)
def test_the_short_goes_where_the_hedge_earns_the_more_per_hour(
    aster: tuple[str, str], backpack: tuple[str, str], short: str, carry: str
) -> None:
    choice = choose({ASTER: info(ASTER, *aster), BACKPACK: info(BACKPACK, *backpack)})
    assert choice.short == short
    assert choice.carry_per_hour == D(carry) and choice.carry_per_hour >= 0
    journal = choice.journal()
    assert journal["long"] == (BACKPACK if short == ASTER else ASTER)
    assert journal["rate_per_hour"] == {
        ASTER: str(D(aster[0]) / D(aster[1])),
        BACKPACK: str(D(backpack[0]) / D(backpack[1])),
    }
    assert D(str(journal["carry_per_hour"])) == D(carry)


def test_a_settlement_ahead_that_costs_the_hedge_is_found() -> None:
    # Short on Aster: Backpack's positive rate is paid by the long at its settlement.
    terms = {ASTER: info(ASTER, "0.0001", "8", 7200), BACKPACK: info(BACKPACK, "0.00002", "1", 90)}
    found = costly_settlement(terms, ASTER, NOW, timedelta(seconds=120))
    assert found == Settlement(NOW + timedelta(seconds=90), (BACKPACK,), D("-0.00002"))
    # outside the window: nothing to avoid yet
    assert costly_settlement(terms, ASTER, NOW, timedelta(seconds=60)) is None
    # with the short on Backpack that settlement is received: nothing to avoid
    assert costly_settlement(terms, BACKPACK, NOW, timedelta(seconds=120)) is None


def test_venues_settling_at_the_same_moment_are_counted_together() -> None:
    """At Aster's boundary Backpack settles too: the short's receipt on one venue and the
    long's payment on the other net out."""
    received = {ASTER: info(ASTER, "0.0001", "8", 60), BACKPACK: info(BACKPACK, "0.00002", "1", 60)}
    assert costly_settlement(received, ASTER, NOW, timedelta(seconds=120)) is None
    paid = {ASTER: info(ASTER, "0.00001", "8", 60), BACKPACK: info(BACKPACK, "0.00002", "1", 60)}
    found = costly_settlement(paid, ASTER, NOW, timedelta(seconds=120))
    assert found is not None
    assert (found.venues, found.net) == ((ASTER, BACKPACK), D("-0.00001"))


def test_the_first_costly_settlement_is_the_one_waited_for() -> None:
    # Short on Backpack: its own settlement (negative rate: the short pays) comes first.
    terms = {ASTER: info(ASTER, "0.0003", "4", 100), BACKPACK: info(BACKPACK, "-0.00001", "1", 30)}
    found = costly_settlement(terms, BACKPACK, NOW, timedelta(seconds=300))
    assert found is not None and (found.at, found.venues) == (
        NOW + timedelta(seconds=30),
        (BACKPACK,),
    )


def test_a_settlement_already_past_is_not_one_ahead() -> None:
    terms = {ASTER: info(ASTER, "0.0001", "8", 7200), BACKPACK: info(BACKPACK, "0.00002", "1", -1)}
    assert costly_settlement(terms, ASTER, NOW, timedelta(seconds=3599)) is None
