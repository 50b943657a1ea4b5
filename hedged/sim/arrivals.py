"""Who sent which order request when, and what became of it: so a test can prove that a
daemon that lost its lease had nothing accepted after (each daemon signs with keys of its
own on the same account). A request signed before a freeze and written after it may still
arrive; the venue's signature window must refuse it."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Arrivals:
    entries: list[dict[str, object]] = field(default_factory=list)

    def note(
        self, key: str | None, action: str, client_id: str | None, symbol: object = None
    ) -> dict[str, object]:
        """The entry, whose "status" `answered` sets once the venue has answered (the HTTP
        status; "refused" for an error that carries none)."""
        entry: dict[str, object] = {
            "at": time.time(),
            "key": key or "",
            "action": action,
            "client_id": client_id,
            "symbol": None if symbol is None else str(symbol),
            "status": None,
        }
        self.entries.append(entry)
        return entry

    @staticmethod
    async def answered(entry: dict[str, object], answer: Awaitable[T]) -> T:
        """`answer`, its HTTP status noted in `entry`."""
        try:
            response = await answer
        except Exception as e:  # an error answer raised, to be rendered by a middleware
            status = getattr(e, "status", None)
            entry["status"] = status if isinstance(status, int) else "refused"
            raise
        entry["status"] = getattr(response, "status", None)
        return response
