"""Every relative link in README.md and docs/*.md points to an existing file and heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation but '-' and '_' dropped, spaces → '-'."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    ids = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        ids.add(slug)
    return ids


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+://|mailto:", t)]


def test_the_docs_exist() -> None:
    names = {p.name for p in PAGES}
    for name in ("protocols.md", "metrics.md", "training.md", "ablations-and-reports.md"):
        assert name in names
    for name in ("ci.md", "speed.md", "python-api.md", "layout.md"):
        assert name in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no file {dest.relative_to(ROOT)})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.name}: broken links: {broken}"


def test_layout_lists_the_layers_of_the_import_contract() -> None:
    """docs/layout.md's numbered layers are pyproject.toml's import-linter layers, in order."""
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    text = (ROOT / "docs" / "layout.md").read_text(encoding="utf-8").split("## Layers", 1)[1]
    documented = [
        " | ".join(re.findall(r"`([^`]+)`", item))
        for item in re.split(r"\n(?=\d+\. )", text.strip())
        if re.match(r"\d+\. ", item)
    ]
    expected = [
        " | ".join(part.strip() for part in layer.split("|")) for layer in contract["layers"]
    ]
    assert documented == expected


def test_the_readme_links_every_page() -> None:
    readme = set(links(ROOT / "README.md"))
    missing = [p.name for p in PAGES[1:] if f"docs/{p.name}" not in readme]
    assert not missing, f"README.md does not link {missing}"
