"""The part of classifying a write's reply that both venues share: a 2xx reply is Accepted
only when its body is the very order the request was about; anything else it carries
leaves the venue's action unknown (docs/architecture.md#classifying-answers)."""

from __future__ import annotations

from collections.abc import Callable

from hedged.adapters import fields
from hedged.adapters.base import Accepted, Ambiguous, Outcome
from hedged.adapters.errors import WireError
from hedged.model import OrderState


def answered_order(
    status: int,
    body: bytes | str,
    parse: Callable[[object], OrderState],
    client_id: str,
    symbol: str,
) -> Outcome:
    """The outcome of a 2xx new-order or cancel reply whose body `parse` reads. Total."""
    try:
        order = parse(fields.decode(body))
    except WireError as e:
        return Ambiguous(f"HTTP {status} with an unreadable order: {e}")
    if order.client_id != client_id or order.symbol != symbol:
        return Ambiguous(f"HTTP {status} with an order that is not {client_id} on {symbol}")
    return Accepted(order)
