"""The weights catalog: its built-in entries against independent sources, and the validation of
a user's manifest (`$P2PBENCH_WEIGHTS_MANIFEST`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torchvision.models as tvm

from p2pbench.metrics.encoders import ENCODERS
from p2pbench.metrics.paired import LPIPS_BACKBONES, lpips_weights_file
from p2pbench.weights.catalog import (
    BUILTIN,
    MANIFEST_VARIABLE,
    WeightsManifestError,
    builtin,
    catalog,
    read_manifest,
)

SHA = "ab" * 32


@pytest.mark.parametrize("net", sorted(LPIPS_BACKBONES))
def test_torchvision_backbones_are_torchvisions_own_files(net: str) -> None:
    url = getattr(tvm, LPIPS_BACKBONES[net]).IMAGENET1K_V1.url  # torchvision's own record
    entry = builtin({"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}[net])
    assert entry.urls == (url,)
    assert lpips_weights_file(net) == url.rsplit("/", 1)[-1] == entry.filename


@pytest.mark.parametrize("entry", BUILTIN, ids=lambda e: e.name)
def test_a_hash_in_an_official_file_name_is_the_entrys_prefix(entry) -> None:  # noqa: ANN001
    named = [u.rsplit("-", 1)[-1].split(".")[0] for u in entry.urls if "-" in u.rsplit("/", 1)[-1]]
    hexes = [h for h in named if len(h) == 8 and all(c in "0123456789abcdef" for c in h)]
    assert hexes == ([entry.sha256_prefix] * len(hexes) if hexes else [])
    if entry.sha256_prefix:
        assert hexes, f"{entry.name}: a prefix with no hash-named file"


def test_every_encoder_looks_up_a_catalog_file() -> None:
    urls = {u for e in BUILTIN for u in e.urls}
    for name in ENCODERS.names():
        spec = ENCODERS.get(name).weights
        assert spec.urls and set(spec.urls) <= urls, name


def _manifest(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(entries if isinstance(entries, dict) else {"weights": entries}))
    return path


def test_a_valid_manifest_adds_its_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _manifest(
        tmp_path,
        [
            {"name": "my-seg", "url": "https://example.org/a/seg.pth", "sha256": SHA.upper()},
            {"name": "other", "urls": ["file:///x/o.bin"], "sha256": SHA, "filename": "o2.bin"},
        ],
    )
    monkeypatch.setenv(MANIFEST_VARIABLE, str(path))
    entries = catalog()
    assert entries["my-seg"].filename == "seg.pth" and entries["my-seg"].sha256 == SHA
    assert entries["other"].filename == "o2.bin" and entries["other"].origin == str(path)
    assert set(entries) == {e.name for e in BUILTIN} | {"my-seg", "other"}


GOOD = {"name": "my-seg", "url": "https://example.org/seg.pth", "sha256": SHA}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([{**GOOD, "sha": SHA}], "unknown key\\(s\\) sha;"),
        ([{**GOOD, "sha256": SHA[:-1]}], "64 hex digits"),
        ([{**GOOD, "sha256": "zz" * 32}], "64 hex digits"),
        ([{k: v for k, v in GOOD.items() if k != "sha256"}], "'sha256' must be"),
        ([{**GOOD, "name": "inception-v3-fid"}], "a built-in weight file has this name"),
        ([GOOD, GOOD], "appears twice"),
        ([{**GOOD, "filename": "../evil.pth"}], "without folders"),
        ([{**GOOD, "urls": ["https://x/y"]}], "exactly one of 'url' or 'urls'"),
        ([{**GOOD, "url": "ftp://x/y"}], "must be a string starting with"),
        ([{**GOOD, "size": -3}], "positive byte count"),
        ([{**GOOD, "name": "My Seg"}], "lower-case"),
        (["seg.pth"], "expected an object"),
        ({"weight": []}, 'expected {"weights"'),
    ],
)
def test_a_malformed_manifest_names_the_entry_and_the_key(
    tmp_path: Path, entries: object, message: str
) -> None:
    with pytest.raises(WeightsManifestError, match=message):
        read_manifest(_manifest(tmp_path, entries))


def test_an_unreadable_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsManifestError, match="no such file"):
        read_manifest(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WeightsManifestError, match="not a readable JSON file"):
        read_manifest(tmp_path / "bad.json")


def test_the_docs_table_lists_every_built_in_file() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "weights.md").read_text()
    for e in BUILTIN:
        assert f"| `{e.name}` |" in text and e.hash_note() in text, e.name
        assert all(f"`{u}`" in text for u in e.urls), e.name
