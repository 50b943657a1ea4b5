"""How the next round opens: which venue holds its short (`strategy.direction`)
(docs/architecture.md#which-way-a-round-faces)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hedged.config import StrategyConfig
from hedged.legs import ASTER, BACKPACK

FIXED = {"aster_short": ASTER, "backpack_short": BACKPACK}


class Entries:
    def __init__(self, strategy: StrategyConfig) -> None:
        self.strategy = strategy

    def direction(self) -> tuple[str, Mapping[str, Any] | None]:
        """The venue of the next round's short, and why (journaled with the round; None when
        the configuration fixes it)."""
        return FIXED[self.strategy.direction], None
