"""The round lifecycle as a Mermaid state diagram, drawn from the transition table.

`python -m hedged.states.diagram` prints it; docs/architecture.md holds a copy that
tests/test_docs.py keeps equal to this output, so the picture cannot drift from the table.
"""

from __future__ import annotations

from collections.abc import Iterable

from hedged.states.machine import TABLE, State, Trigger

# A round is created in the first state of the enum (Store.create_round).
INITIAL = next(iter(State))

Edge = tuple[State, State, list[Trigger]]


def edges(table: Iterable[tuple[Trigger, list[State], State]] = TABLE) -> list[Edge]:
    """One edge per (source, destination), its triggers in table order; edges in the order
    their first trigger appears."""
    merged: dict[tuple[State, State], list[Trigger]] = {}
    for trigger, sources, dest in table:
        for source in sources:
            triggers = merged.setdefault((source, dest), [])
            if trigger not in triggers:
                triggers.append(trigger)
    return [(source, dest, triggers) for (source, dest), triggers in merged.items()]


def mermaid(table: Iterable[tuple[Trigger, list[State], State]] = TABLE) -> str:
    """The `stateDiagram-v2` text, fenced as a Markdown ```mermaid block."""
    rows = list(table)
    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {INITIAL.value}"]
    for source, dest, triggers in edges(rows):
        label = ", ".join(t.value for t in triggers)
        lines.append(f"    {source.value} --> {dest.value}: {label}")
    leaving = {source for _, sources, _ in rows for source in sources}
    lines += [f"    {s.value} --> [*]" for s in State if s not in leaving]
    lines.append("```")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(mermaid(), end="")
