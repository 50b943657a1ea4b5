"""Reading Aster request parameters, with the venue's errors for missing or malformed ones."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from hedged.sim.aster.errors import AsterError, bad_symbol, bad_value, mandatory


def check_symbol(params: Mapping[str, str], symbol: str) -> str:
    sent = params.get("symbol")
    if not sent:
        raise mandatory("symbol")
    if sent != symbol:
        raise bad_symbol()
    return sent


def decimal_param(params: Mapping[str, str], name: str) -> Decimal:
    try:
        value = Decimal(params[name])
    except (KeyError, InvalidOperation):
        raise mandatory(name) from None
    if not value.is_finite():
        raise mandatory(name)
    return value


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise mandatory(name) from None


def choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], bad: AsterError) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    if value not in allowed:
        raise bad
    return value


def flag(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise bad_value(name)
    return value == "true"
