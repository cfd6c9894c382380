"""The documentation: the README stays short, every relative link and anchor in the docs points somewhere real,
and the docs speak to a reader, not to the project's own tracker."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

README_MAX_LINES = 150

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_ISSUE = re.compile(r"\bissue\s*#?\d+", re.IGNORECASE)
_HASH = re.compile(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md, docs/*.md, bench/*.md and checkpoints/README.md under `root`, those that exist."""
    found = [root / "README.md", root / "checkpoints" / "README.md"]
    found += sorted((root / "docs").glob("*.md")) + sorted((root / "bench").glob("*.md"))
    return [p for p in found if p.is_file()]


def prose(text: str) -> str:
    """The markdown without its fenced code blocks and inline code spans (links there are not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(path: Path) -> list[str]:
    """The targets of the markdown links and images in `path`, outside code."""
    return _LINK.findall(prose(path.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def broken_links(path: Path) -> list[str]:
    """Each relative link in `path` whose file, or whose #anchor in that file, does not exist, as 'FILE: TARGET'."""
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{_name(path)}: {target}")
        elif anchor and dest.suffix == ".md":
            anchors = {slug(h) for h in _HEADING.findall(_FENCE.sub("", dest.read_text(encoding="utf-8")))}
            if anchor not in anchors:
                broken.append(f"{_name(path)}: {target}")
    return broken


def internal_references(path: Path) -> list[str]:
    """Mentions of the project's tracker ('issue 12') and commit hashes in code spans found in `path`."""
    text = path.read_text(encoding="utf-8")
    found = _ISSUE.findall(text)
    for span in _CODE_SPAN.findall(_FENCE.sub("", text)) + _FENCE.findall(text):
        found += _HASH.findall(span)
    return found


def test_every_relative_link_in_the_docs_points_to_a_file():
    files = doc_files()
    assert {_name(p) for p in files} >= {
        "README.md",
        "checkpoints/README.md",
        "bench/README.md",
        "docs/serving.md",
        "docs/training.md",
    }
    assert sum(len(links(p)) for p in files) >= 10, "the docs should link to each other"
    assert [b for p in files for b in broken_links(p)] == []


def test_the_readme_shows_the_map_screenshot_it_links():
    assert "docs/map.png" in links(ROOT / "README.md")
    assert (ROOT / "docs" / "map.png").stat().st_size <= 200_000


def test_a_missing_file_or_heading_is_reported_as_a_broken_link(tmp_path):
    (tmp_path / "other.md").write_text("# Real heading\n", encoding="utf-8")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](other.md#real-heading) [gone](missing.md) [bad anchor](other.md#nope) [web](https://example.com)\n"
        "`[in code](missing-too.md)`\n",
        encoding="utf-8",
    )
    assert [b.split(": ", 1)[1] for b in broken_links(doc)] == ["missing.md", "other.md#nope"]


def test_the_readme_is_short_enough_to_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES


def test_the_docs_hold_no_internal_references():
    found = {_name(p): internal_references(p) for p in doc_files()}
    assert found == {name: [] for name in found}


def test_a_tracker_number_or_a_commit_hash_is_an_internal_reference(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "As issue 12 asks, see `git worktree add /tmp/before bfbefbb`; `--seed 1234567` and 1,000 sessions are fine.\n",
        encoding="utf-8",
    )
    assert internal_references(doc) == ["issue 12", "bfbefbb"]
