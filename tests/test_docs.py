"""The project's documents stay true to the code and self-contained: the state diagram in
docs/architecture.md is the one the transition table draws, no file points to a document
outside the repository, and every docs/ link in a file leads to a page and heading that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from hedged.states import diagram
from hedged.states.machine import TABLE, State, Trigger

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- state-diagram:begin"
END = "<!-- state-diagram:end -->"

# Design notes and venue summaries that live outside the repository; spelt in pieces so that
# this file does not name them itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\b" + "DES" + r"IGN\b",
            r"\b(aster|backpack)" + "-api" + r"\.md\b",
            "\u00a7",  # section numbers of those documents
        ]
    )
)
DOCS_LINK = re.compile(r"docs/[\w./-]+\.md(?:#[\w-]+)?")
# A Markdown link to a page of the repository (not a web address).
MD_LINK = re.compile(r"\]\((?!https?:)([^)\s]+)\)")


def _diagram_in_docs() -> str:
    text = ARCHITECTURE.read_text()
    start = text.index(BEGIN)
    start = text.index("\n", start) + 1
    return text[start : text.index(END)]


def test_state_diagram_in_docs_is_generated_from_the_table() -> None:
    assert _diagram_in_docs() == diagram.mermaid(), (
        "docs/architecture.md's state diagram differs from the transition table: replace it "
        "with the output of `python -m hedged.states.diagram`"
    )


def test_diagram_draws_every_transition_of_the_table() -> None:
    text = diagram.mermaid()
    for trigger, sources, dest in TABLE:
        for source in sources:
            edge = re.search(rf"^    {source.value} --> {dest.value}: (.*)$", text, re.M)
            assert edge is not None, (trigger, source, dest)
            assert trigger.value in edge.group(1).split(", ")
    assert f"[*] --> {State.OPENING.value}" in text
    assert f"{State.DONE.value} --> [*]" in text
    assert f"{State.HALTED.value} --> [*]" not in text  # an operator can move it on


def test_diagram_follows_a_changed_table() -> None:
    """The check above is not vacuous: a table with one more transition draws another
    diagram than the one in the docs."""
    changed = [*TABLE, (Trigger.TIME_LIMIT, [State.OPENING], State.CLOSING)]
    drawn = diagram.mermaid(changed)
    assert drawn != _diagram_in_docs()
    drawn_line = "OPENING --> CLOSING: entry_failed, operator_close, shutdown_flatten, unprotected"
    assert f"{drawn_line}, time_limit" in drawn


def _tracked_files() -> list[Path]:
    """The repository's text files: git's list, or outside a checkout every file but the
    hidden, built and cached ones."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        files = [ROOT / name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = re.compile(r"(^|/)(\.[^/]*|__pycache__|[^/]*\.egg-info)(/|$)")
        files = [f for f in ROOT.rglob("*") if not skip.search(str(f.relative_to(ROOT)))]
    return [f for f in files if f.is_file() and _text(f) is not None]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def test_no_file_points_outside_the_repository() -> None:
    files = _tracked_files()
    assert any(f.name == "architecture.md" for f in files)
    found = [
        f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
        for f in files
        for n, line in enumerate((_text(f) or "").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "point these to docs/ instead:\n" + "\n".join(found)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_docs_link_leads_to_a_page_and_a_heading() -> None:
    links = {
        (f.relative_to(ROOT), link)
        for f in _tracked_files()
        for link in DOCS_LINK.findall(_text(f) or "")
    }
    assert links, "no file links to docs/"
    broken = []
    for source, link in sorted(links):
        path, _, anchor = link.partition("#")
        page = ROOT / path
        if not page.is_file():
            broken.append(f"{source}: {link} (no such page)")
        elif anchor and anchor not in _anchors(page):
            broken.append(f"{source}: {link} (no such heading)")
    assert not broken, "\n".join(broken)


def test_links_between_pages_lead_to_a_page_and_a_heading() -> None:
    """Relative Markdown links inside docs/ (`venues/aster.md`, `../architecture.md#errors`)."""
    broken = []
    pages = sorted((ROOT / "docs").rglob("*.md"))
    assert len(pages) >= 4
    for page in pages:
        for target in MD_LINK.findall(page.read_text()):
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.is_file():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such page)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_anchor_rule_matches_github() -> None:
    page = ARCHITECTURE
    assert {"write-ahead-orders", "the-daemon-loop", "round-lifecycle"} <= _anchors(page)
