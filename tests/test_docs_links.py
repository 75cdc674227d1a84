"""Every local link and picture in the README, docs/ and the assets' notes points at a file in the repository
(text moves between them; a broken link is what a reader would meet)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "assets").glob("*/*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"")


def local_targets(page: Path) -> list[str]:
    targets = [a or b for a, b in LINK.findall(page.read_text())]
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_local_links_resolve(page: Path) -> None:
    targets = local_targets(page)
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_the_check_reads_links_and_pictures() -> None:
    assert "docs/GEOMETRY.md" in local_targets(ROOT / "README.md")
    assert "views_from_truth.png" in local_targets(ROOT / "docs" / "GEOMETRY.md")
