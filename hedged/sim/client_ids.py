"""Client order ids per venue: the simulated venues use the real clients' formats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hedged.adapters.aster_ids import aster_client_id, aster_owns
from hedged.adapters.backpack_ids import backpack_client_id, backpack_owns


@dataclass(frozen=True, slots=True)
class ClientIdScheme:
    make: Callable[[int, int], str]
    owns: Callable[[int, str], bool]


SCHEMES = {
    "aster": ClientIdScheme(aster_client_id, aster_owns),
    "backpack": ClientIdScheme(backpack_client_id, backpack_owns),
}
