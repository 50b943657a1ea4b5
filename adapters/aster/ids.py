"""Aster client order ids: a `newClientOrderId` string derived from (installation namespace,
order sequence number). The format is the one of `hedged.sim.client_ids`
(`hd<namespace in 8 hex digits>-<seq>`), kept here so the live client does not import the
simulator; a test holds the two to the same answers."""

from __future__ import annotations

import re

PATTERN = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")  # the venue's rule for newClientOrderId
_DIGITS = re.compile(r"[0-9]+")


def aster_client_id(namespace: int, seq: int) -> str:
    """A `newClientOrderId` string: `hd<namespace in 8 hex digits>-<seq>`."""
    client_id = f"{_prefix(namespace)}{_non_negative(seq)}"
    if not PATTERN.fullmatch(client_id):
        raise ValueError(f"{client_id!r} is not a valid Aster client order id")
    return client_id


def aster_owns(namespace: int, client_id: str) -> bool:
    prefix = _prefix(namespace)
    return client_id.startswith(prefix) and _DIGITS.fullmatch(client_id[len(prefix) :]) is not None


def _prefix(namespace: int) -> str:
    return f"hd{_non_negative(namespace):08x}-"


def _non_negative(number: int) -> int:
    if number < 0:
        raise ValueError(f"expected a non-negative number, got {number}")
    return number
