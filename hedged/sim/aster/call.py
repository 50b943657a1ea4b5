"""What an Aster endpoint handler receives (the authenticated call) and what it answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedged.sim.aster.limits import Limits
from hedged.sim.aster.state import AsterState


@dataclass(frozen=True, slots=True)
class Call:
    state: AsterState
    limits: Limits
    params: dict[str, str]
    caller: str | None
    v3: bool
    partial: Decimal | None  # the fill fraction a PARTIAL fault set

    @property
    def account(self) -> str:
        assert self.caller is not None, "a private endpoint without a caller"
        return self.caller


@dataclass(frozen=True, slots=True)
class Reply:
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Endpoint = Callable[[Call], Reply]
