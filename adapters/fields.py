"""Readers for the JSON both venues answer with: each returns the typed value or raises
`WireError` naming the field, never anything else. Numbers are parsed as Decimal or int,
never float."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from hedged.adapters.errors import WireError

Json = Mapping[str, Any]
E = TypeVar("E", bound=Enum)
T = TypeVar("T")

MAX_MESSAGE = 300


def decode(body: bytes | str) -> Any:
    """JSON with Decimal for non-integers; NaN/Infinity and bad UTF-8 are errors."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        shown = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        raise WireError(f"not JSON: {snippet(shown)!r}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def snippet(text: str) -> str:
    """A bounded, printable excerpt of a venue's text for an error message."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text.strip())
    return clean if len(clean) <= MAX_MESSAGE else clean[:MAX_MESSAGE] + "..."


def obj(value: object, what: str) -> Json:
    if not isinstance(value, dict):
        raise WireError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def array(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"{what}: expected an array, got {type(value).__name__}")
    return value


def text(o: Json, key: str) -> str:
    value = o.get(key)
    if not isinstance(value, str) or not value:
        raise WireError(f"{key}: expected a non-empty string")
    return value


def ident(o: Json, key: str) -> str:
    """An id the venue writes as a non-negative number or as a string of digits."""
    value = o.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    raise WireError(f"{key}: expected an id")


def flag(o: Json, key: str) -> bool:
    """A boolean written as JSON true/false or as "true"/"false"; absent or null is False."""
    value = o.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise WireError(f"{key}: expected a boolean")


def decimal(value: object, key: str) -> Decimal:
    """A finite Decimal from a JSON string or number (never bool, never float)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise WireError(f"{key}: expected a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        raise WireError(f"{key}: not a decimal: {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise WireError(f"{key}: not a finite number")
    return number


def dec(o: Json, key: str, default: str | None = None) -> Decimal:
    """Field `key` as a Decimal; `default` when it is absent (an error without one)."""
    return decimal(o.get(key, default), key)


def opt_dec(o: Json, key: str) -> Decimal | None:
    value = o.get(key)
    return None if value is None else decimal(value, key)


def member(kind: type[E], value: object, key: str) -> E:
    """The member of enum `kind` whose value is `value`."""
    try:
        return kind(value if isinstance(value, str) else "")
    except ValueError:
        raise WireError(f"{key}: unexpected value {snippet(str(value))!r}") from None


def lookup(table: Mapping[str, T], value: object, key: str) -> T:
    """What `table` maps the venue's word `value` to."""
    if not isinstance(value, str) or value not in table:
        raise WireError(f"{key}: unexpected value {snippet(str(value))!r}")
    return table[value]
