"""Reading request parameters (a JSON body or a query string) the way Backpack validates them.

Query values arrive as strings, body values as JSON (numbers parsed as Decimal); every reader
accepts both. A bad value is a 400 INVALID_CLIENT_REQUEST.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from hedged.sim.backpack.errors import BackpackError, bad_request

Params = Mapping[str, object]
UINT32_MAX = 2**32 - 1


def _invalid(name: str) -> BackpackError:
    return bad_request(f"Invalid value for `{name}`")


def text(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name)
    return value


def required_text(params: Params, name: str) -> str:
    value = text(params, name)
    if value is None:
        raise bad_request(f"Missing required parameter `{name}`")
    return value


def choice(params: Params, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    value = text(params, name)
    if value is None:
        return default
    if value not in allowed:
        raise _invalid(name)
    return value


def decimal(params: Params, name: str) -> Decimal | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _invalid(name)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _invalid(name) from None
    if not number.is_finite():
        raise _invalid(name)
    return number


def boolean(params: Params, name: str) -> bool | None:
    value = params.get(name)
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise _invalid(name)


def integer(
    params: Params, name: str, low: int = 0, high: int = 2**63 - 1, *, text: bool = True
) -> int | None:
    """A whole number in [low, high], from a JSON integer or (`text`) a string of digits."""
    value = params.get(name)
    if value is None:
        return None
    if text and isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(name)
    return value


def uint32(params: Params, name: str, *, text: bool = True) -> int | None:
    """`text` False: a JSON body, where Backpack wants a number."""
    return integer(params, name, 0, UINT32_MAX, text=text)


def order_id(params: Params) -> str | None:
    """`orderId`: Backpack sends it as a string, the signing example as a number."""
    number = integer(params, "orderId")
    return None if number is None else str(number)


def one_order_id(params: Params, *, text: bool) -> tuple[str | None, int | None]:
    """Exactly one of `orderId` and `clientId` (`text`: from a query string)."""
    venue_id, client_id = order_id(params), uint32(params, "clientId", text=text)
    if (venue_id is None) == (client_id is None):
        raise bad_request("Must specify either `clientId` or `orderId`")
    return venue_id, client_id
