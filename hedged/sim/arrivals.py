"""Who sent which order request when: so a test can prove that a daemon sent nothing after
it lost its lease (each daemon signs with keys of its own on the same account)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Arrivals:
    entries: list[dict[str, object]] = field(default_factory=list)

    def note(self, key: str | None, action: str, client_id: str | None) -> None:
        self.entries.append(
            {"at": time.time(), "key": key or "", "action": action, "client_id": client_id}
        )
