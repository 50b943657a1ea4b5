"""The venue port: what a hedge round needs from a perpetual-futures venue.

The calls (`Venue`), what a state-changing call can come to (`Outcome`) and the errors a
read can raise; the domain types they carry are in `hedged.model`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hedged.model import (
    Fill,
    FundingInfo,
    FundingPayment,
    OrderRequest,
    OrderState,
    Position,
    Quote,
    SymbolRules,
)

# Outcomes of a state-changing call (docs/architecture.md#classifying-answers).


@dataclass(frozen=True, slots=True)
class Accepted:
    order: OrderState


# Rejected.code when the client itself declined to send (e.g. during a rate-limit back-off):
# nothing reached the venue, so it says nothing about the venue's state.
NOT_SENT = "NOT_SENT"
# Rejected.code when the venue refused a write for its timestamp (outside the signature
# window): it did not act on it, and the same order signed anew may pass.
EXPIRED = "EXPIRED"
# Refusals that say nothing about the order: no venue looked at what it asked.
UNHEARD = frozenset({NOT_SENT, EXPIRED})


@dataclass(frozen=True, slots=True)
class Rejected:
    """A definite refusal: the venue did not and will not act on this request."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """We cannot know whether the venue acted (timeout, reset, 5xx, garbage body).
    Never resend: resolve by querying the client id."""

    reason: str


Outcome = Accepted | Rejected | Ambiguous


class VenueError(Exception):
    """A read failed (transport or venue trouble); the caller may retry later."""


class CredentialsRefused(VenueError):
    """The venue refused our key or signature: retrying cannot help, the keys must change."""

    venue = ""


class SymbolNotListed(VenueError):
    """The venue does not list the symbol asked for."""

    venue = ""


# Called with the name of a stream that reconnected; streams do not replay what was missed.
ReconnectHook = Callable[[str], Awaitable[None] | None]
# Whether this daemon may still send orders (it holds the book's lease).
MaySend = Callable[[], bool]
# An order validated and signed, sent when called: an entry's legs are both made ready
# before either is written, so the second leaves right after the first.
ReadyOrder = Callable[[], Awaitable[Outcome]]


def always() -> bool:
    return True


def refused(outcome: Rejected) -> ReadyOrder:
    """A ready order that sends nothing: it was refused before it could be signed."""

    async def ready() -> Outcome:
        return outcome

    return ready


class Venue(Protocol):
    """The calls a round needs. Implementations: the in-process simulator and the real
    Aster and Backpack clients."""

    name: str
    # A signed request older than this can no longer be accepted, in seconds
    # (docs/architecture.md#the-signature-window).
    signature_window: float

    def client_id(self, namespace: int, seq: int) -> str:
        """The venue's client order id for our order number `seq` of installation `namespace`."""
        ...

    def owns(self, namespace: int, client_id: str) -> bool:
        """Whether `client_id` was made by `client_id(namespace, ...)`."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def rules(self, symbol: str) -> SymbolRules: ...

    async def quote(self, symbol: str) -> Quote:
        """A fresh top of book over request/response (the fallback when the stream is stale)."""
        ...

    def quotes(self, *symbols: str) -> AsyncIterator[Quote]:
        """Top-of-book updates of every symbol as they arrive, on one connection (where the
        venue offers it); reconnects by itself."""
        ...

    def crowded(self) -> bool:
        """Whether the venue's request budget is too spent for new work: no round opens
        while it is (what open rounds need to end keeps its room)."""
        ...

    def prepare(self, order: OrderRequest) -> ReadyOrder:
        """`place` in two parts: checked and signed now, sent when the result is called."""
        ...

    async def place(self, order: OrderRequest) -> Outcome: ...

    async def cancel(self, symbol: str, client_id: str) -> Outcome: ...

    async def query(self, symbol: str, client_id: str) -> OrderState | None:
        """The order by client id, open or finished; None when the venue does not know it.
        Raises VenueError when the venue cannot be asked."""
        ...

    async def open_orders(self, symbol: str) -> list[OrderState]: ...

    async def position(self, symbol: str) -> Position:
        """The net position on `symbol` (qty 0 when flat)."""
        ...

    async def fills(self, symbol: str, client_id: str) -> list[Fill]:
        """Every trade of the order with this client id, with fees."""
        ...

    async def funding_payments(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Every funding payment on our `symbol` position settled at or after `since`, oldest
        first (the venue's history, read through its pages). Raises VenueError when the venue
        cannot be asked: an empty list means the venue says there was none."""
        ...

    async def funding_info(self, symbol: str) -> FundingInfo:
        """The symbol's funding now: the rate of the next settlement, its interval and time."""
        ...

    def order_updates(self) -> AsyncIterator[OrderState]:
        """Our orders' changes as the venue pushes them; reconnects by itself."""
        ...

    def on_reconnect(self, hook: ReconnectHook) -> None:
        """Call `hook` after any stream reconnected, so the caller can catch up by REST."""
        ...

    def fence(self, may_send: MaySend, window: float) -> None:
        """Send an order or a cancel only if `may_send()`, asked after the request is signed
        and just before it is written; sign it with a window of at most `window` seconds
        where the venue lets the sender choose one (`signature_window` becomes it). A request
        held up past the check carries a timestamp from before the hold: once that window
        has passed, the venue refuses it (docs/leadership.md#the-fence)."""
        ...
