"""Backpack client order ids: a uint32 `clientId` derived from (installation namespace, order
sequence number). The format is the one of `hedged.sim.client_ids` (10 bits of namespace, then
22 bits of sequence, wrapping), kept here so the live client does not import the simulator."""

from __future__ import annotations

import re

SEQ_BITS = 22
NAMESPACE_MASK = 0x3FF
SEQ_MASK = (1 << SEQ_BITS) - 1
UINT32_LIMIT = 1 << 32
_DIGITS = re.compile(r"[0-9]+")


def backpack_client_id(namespace: int, seq: int) -> str:
    """A uint32 `clientId`: 10 bits of namespace, then 22 bits of sequence (wrapping)."""
    namespace_bits = _non_negative(namespace) & NAMESPACE_MASK
    return str((namespace_bits << SEQ_BITS) | (_non_negative(seq) & SEQ_MASK))


def backpack_owns(namespace: int, client_id: str) -> bool:
    if _DIGITS.fullmatch(client_id) is None or int(client_id) >= UINT32_LIMIT:
        return False
    return int(client_id) >> SEQ_BITS == namespace & NAMESPACE_MASK


def wire_client_id(client_id: str) -> int:
    """The uint32 sent as `clientId`; ValueError for anything else."""
    if _DIGITS.fullmatch(client_id) is None or int(client_id) >= UINT32_LIMIT:
        raise ValueError(f"Backpack clientId must be a uint32, got {client_id!r}")
    return int(client_id)


def _non_negative(number: int) -> int:
    if number < 0:
        raise ValueError(f"expected a non-negative number, got {number}")
    return number
