"""Regression: a resting take-profit that fills while the reconciliation runs (after its
open orders were read, before the positions are) is a fill, not unexplained exposure.

Found while writing the crash harness (restarts and stream reconnects with a take-profit
resting near the market): the round was HALTED and the pair blocked, for an ordinary fill."""

from __future__ import annotations

from pathlib import Path

import pytest
from roundkit import ASTER, BACKPACK, D, Rig

from hedged.model import Position


async def test_fill_between_open_orders_and_positions_is_not_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, mode="single")
    await rig.start()
    try:
        await rig.tick()
        await rig.until("MONITORING")
        await rig.move("100.9")  # the short's stop: the long rests its take-profit
        await rig.until("LIMIT_SET")
        assert await rig.position(BACKPACK) > 0

        venue = rig.venues[BACKPACK]
        read_position = venue.position

        async def fill_then_read(symbol: str) -> Position:
            rig.world.set_price(D("101.5"))  # the take-profit fills on the venue just now
            monkeypatch.setattr(venue, "position", read_position)
            return await read_position(symbol)

        monkeypatch.setattr(venue, "position", fill_then_read)
        engine = await rig.start()  # a restart: its reconciliation meets the fill
        assert await rig.position(BACKPACK) == 0
        assert engine.blocked is None
        assert rig.state() != "HALTED", rig.round().reason
        await rig.until("DONE")
        assert await rig.position(ASTER) == 0
        await rig.check_invariants()
    finally:
        await rig.stop()
