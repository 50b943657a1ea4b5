"""Client order ids per venue, derived from (installation namespace, order sequence number)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

ASTER_PATTERN = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
DIGITS = re.compile(r"[0-9]+")
BACKPACK_SEQ_BITS = 22
BACKPACK_NAMESPACE_MASK = 0x3FF
BACKPACK_SEQ_MASK = (1 << BACKPACK_SEQ_BITS) - 1


@dataclass(frozen=True, slots=True)
class ClientIdScheme:
    make: Callable[[int, int], str]
    owns: Callable[[int, str], bool]


def aster_client_id(namespace: int, seq: int) -> str:
    """A `newClientOrderId` string: `hd<namespace in 8 hex digits>-<seq>`."""
    client_id = f"{_aster_prefix(namespace)}{_non_negative(seq)}"
    if not ASTER_PATTERN.fullmatch(client_id):
        raise ValueError(f"{client_id!r} is not a valid Aster client order id")
    return client_id


def aster_owns(namespace: int, client_id: str) -> bool:
    prefix = _aster_prefix(namespace)
    return client_id.startswith(prefix) and DIGITS.fullmatch(client_id[len(prefix) :]) is not None


def backpack_client_id(namespace: int, seq: int) -> str:
    """A uint32 `clientId`: 10 bits of namespace, then 22 bits of sequence (wrapping)."""
    namespace_bits = _non_negative(namespace) & BACKPACK_NAMESPACE_MASK
    return str((namespace_bits << BACKPACK_SEQ_BITS) | (_non_negative(seq) & BACKPACK_SEQ_MASK))


def backpack_owns(namespace: int, client_id: str) -> bool:
    if DIGITS.fullmatch(client_id) is None or int(client_id) >= 1 << 32:
        return False
    return int(client_id) >> BACKPACK_SEQ_BITS == namespace & BACKPACK_NAMESPACE_MASK


SCHEMES = {
    "aster": ClientIdScheme(aster_client_id, aster_owns),
    "backpack": ClientIdScheme(backpack_client_id, backpack_owns),
}


def _aster_prefix(namespace: int) -> str:
    return f"hd{_non_negative(namespace):08x}-"


def _non_negative(number: int) -> int:
    if number < 0:
        raise ValueError(f"expected a non-negative number, got {number}")
    return number
