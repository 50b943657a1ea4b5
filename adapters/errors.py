"""What a venue client raises, every kind a `VenueError` so a caller of the port needs only
that one: the transport's verdicts (`NotSent`, `TransportError`), the venue's error answer
(`ApiError`) and an answer the client cannot read (`WireError`)."""

from __future__ import annotations

from hedged.adapters.base import VenueError


class NotSent(VenueError):
    """Refused locally (rate-limit back-off, lease lost, cannot sign): the request never left."""


class TransportError(VenueError):
    """No complete answer (timeout, refused or reset connection, truncated body): the request
    may or may not have reached the venue."""


class WireError(VenueError):
    """The venue answered something this client cannot read."""


class ApiError(VenueError):
    """The venue answered a read with its error body: `code` as the venue writes it."""

    def __init__(self, what: str, status: int, code: int | str, msg: str) -> None:
        super().__init__(f"{what}: HTTP {status} code {code}: {msg}")
        self.status = status
        self.code = code
        self.msg = msg
