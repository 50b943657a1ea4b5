"""How the hedge names its orders on each venue: a client order id made from (installation
namespace, order sequence number) that the venue accepts, and the test that tells this
installation's orders from anyone else's.

A domain rule, not a wire format: the live clients and the in-process simulator both name
orders this way, so neither depends on the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

ASTER_CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")  # Aster's rule for newClientOrderId
BACKPACK_SEQ_BITS = 22  # a Backpack clientId is a uint32: 10 bits of namespace, 22 of sequence
BACKPACK_NAMESPACE_MASK = 0x3FF
BACKPACK_SEQ_MASK = (1 << BACKPACK_SEQ_BITS) - 1
UINT32_LIMIT = 1 << 32
_DIGITS = re.compile(r"[0-9]+")


def aster_client_id(namespace: int, seq: int) -> str:
    """`hd<namespace in 8 hex digits>-<seq>`."""
    client_id = f"{_aster_prefix(namespace)}{_non_negative(seq)}"
    if not ASTER_CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"{client_id!r} is not a valid Aster client order id")
    return client_id


def aster_owns(namespace: int, client_id: str) -> bool:
    prefix = _aster_prefix(namespace)
    return client_id.startswith(prefix) and _DIGITS.fullmatch(client_id[len(prefix) :]) is not None


def backpack_client_id(namespace: int, seq: int) -> str:
    """A uint32: 10 bits of namespace, then 22 bits of sequence (wrapping)."""
    namespace_bits = _non_negative(namespace) & BACKPACK_NAMESPACE_MASK
    return str((namespace_bits << BACKPACK_SEQ_BITS) | (_non_negative(seq) & BACKPACK_SEQ_MASK))


def backpack_owns(namespace: int, client_id: str) -> bool:
    if _DIGITS.fullmatch(client_id) is None or int(client_id) >= UINT32_LIMIT:
        return False
    return int(client_id) >> BACKPACK_SEQ_BITS == namespace & BACKPACK_NAMESPACE_MASK


@dataclass(frozen=True, slots=True)
class ClientIdScheme:
    make: Callable[[int, int], str]
    owns: Callable[[int, str], bool]


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
