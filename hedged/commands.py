"""Operator commands: what `hedgectl pause|resume|close|flatten` queue in the store and the
leading daemon applies between steps (docs/architecture.md#operator-commands)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from hedged.i18n import _
from hedged.states.machine import Trigger
from hedged.store import Store

log = logging.getLogger(__name__)


class Helm(Protocol):
    """What a command steers: the daemon's opening of rounds and the rounds themselves."""

    def pause(self, paused: bool) -> None: ...

    def close_all(self, trigger: Trigger, why: str) -> int:
        """Move every active round that allows `trigger`; how many were moved."""
        ...

    def flatten(self) -> int:
        """Close every round (in a fleet, the others' too: they read it from the store);
        how many of this daemon's were moved."""
        ...

    def steers(self, round_id: int | None) -> bool:
        """Whether this daemon applies a command (in a fleet, a round's goes to the daemon
        holding the round's book; the others leave it pending)."""
        ...

    def move(self, round_id: int, trigger: Trigger, why: str) -> str:
        """Move one round; its state afterwards. LookupError if there is no such round."""
        ...


async def apply_pending(store: Store, helm: Helm, settled: Callable[[], Awaitable[None]]) -> None:
    """Apply the queued commands in order, each answered in the store (hedgectl waits for
    the answer); `settled` waits for the steps under way, which a command must not race."""
    commands = [c for c in store.pending_commands() if helm.steers(c.round_id)]
    if commands:
        await settled()
    for c in commands:
        assert c.id is not None
        try:
            result = execute(helm, c.kind, c.round_id)
        except Exception as e:  # a bad command must not stop the loop
            log.warning(_("command %s %s failed: %s"), c.kind, c.round_id or "", e)
            store.finish_command(c.id, False, str(e))
        else:
            store.finish_command(c.id, True, result)


def execute(helm: Helm, kind: str, round_id: int | None) -> str:
    """One command; what hedgectl shows as its result."""
    if kind == "pause":
        helm.pause(True)
        return "paused: no new rounds"
    if kind == "resume" and round_id is None:
        helm.pause(False)
        return "resumed: rounds open again"
    if kind == "flatten":
        helm.pause(True)
        return f"paused; closing {helm.flatten()} rounds"
    if kind in ("close", "resume"):
        if round_id is None:
            raise LookupError(f"{kind} needs a round")
        trigger = Trigger.OPERATOR_CLOSE if kind == "close" else Trigger.RESUME
        return f"round {round_id} is {helm.move(round_id, trigger, f'operator {kind}')}"
    raise ValueError(f"unknown command {kind!r}")
