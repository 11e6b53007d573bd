"""`p2pbench weights` end to end: a loopback HTTP server serves test-made InceptionV3-shaped
weights registered in a user manifest; fetch places them, path prints where, eval uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from loopback import Behaviour, serve

from p2pbench.base import sha256_file
from p2pbench.cli import main


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty p2pbench, torch hub and Hugging Face homes: nothing is found by accident."""
    for var, sub in (("P2PBENCH_HOME", "p2p"), ("TORCH_HOME", "torch"), ("HF_HOME", "hf")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("P2PBENCH_OFFLINE", "HF_HUB_OFFLINE", "P2PBENCH_WEIGHTS_MIRROR", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _register(home: Path, monkeypatch: pytest.MonkeyPatch, url: str, sha256: str) -> None:
    manifest = home / "manifest.json"
    entry = {"name": "my-inception", "url": url, "sha256": sha256, "filename": "inc.pth"}
    manifest.write_text(json.dumps({"weights": [entry]}))
    monkeypatch.setenv("P2PBENCH_WEIGHTS_MANIFEST", str(manifest))


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_fetch_path_and_eval_with_a_manifest_entry(
    homes: Path, monkeypatch: pytest.MonkeyPatch, inception_weights_file: Path
) -> None:
    body = inception_weights_file.read_bytes()
    b = Behaviour(body=body)
    with serve(b) as base:
        _register(homes, monkeypatch, f"{base}/inc.pth", sha256_file(inception_weights_file))
        code, out, err = _cli("weights", "fetch", "my-inception")
        assert code == 0, err
    placed = homes / "p2p" / "weights" / "inc.pth"
    assert placed.read_bytes() == body and "official sha256" in out
    code, out, _ = _cli("weights", "path", "my-inception")
    assert (code, out.strip()) == (0, str(placed))
    code, out, err = _cli("weights", "list", "--json")
    listed = {e["name"]: e for e in json.loads(out)}
    assert listed["my-inception"]["found_by"] == "p2pbench home"
    assert listed["inception-v3-fid"]["check"] == "missing"
    code, out, err = _cli(
        "eval", "--real", "--data", "synthcity@v1", "--metrics", "inception",
        "--inception-weights", str(placed), "--require", "fid", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["provenance"]["inception"]["weights"]["sha256"] == sha256_file(placed)
    assert len(b.requests) == 1


def test_offline_fetch_sends_no_request(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = Behaviour(body=b"x" * 1000)
    with serve(b) as base:
        _register(homes, monkeypatch, f"{base}/inc.pth", "ab" * 32)
        monkeypatch.setenv("P2PBENCH_OFFLINE", "1")
        code, _, err = _cli("weights", "fetch", "my-inception")
    assert code == 2 and "$P2PBENCH_OFFLINE forbids downloads" in err
    assert b.requests == []
    assert not (homes / "p2p" / "weights" / "inc.pth").exists()


def test_a_wrong_manifest_hash_places_nothing(homes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve(Behaviour(body=b"x" * 1000)) as base:
        _register(homes, monkeypatch, f"{base}/inc.pth", "ab" * 32)
        code, _, err = _cli("weights", "fetch", "my-inception")
    assert code == 2 and "nothing was placed" in err
    assert sorted(p.name for p in (homes / "p2p" / "weights").iterdir()) == ["inc.pth.lock"]


def test_a_mirror_is_tried_first_and_a_pin_is_recorded(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dinov2-vitb14 has no official hash: a file:// mirror serves it, the first fetch pins its
    hash, and verify then catches a changed byte (exit 1)."""
    mirror = homes / "mirror"
    mirror.mkdir()
    (mirror / "dinov2_vitb14_pretrain.pth").write_bytes(b"dinov2 bytes" * 100)
    monkeypatch.setenv("P2PBENCH_WEIGHTS_MIRROR", mirror.as_uri())
    code, out, err = _cli("weights", "fetch", "dinov2-vitb14")
    assert code == 0, err
    assert "pinned locally, not official" in out
    placed = homes / "p2p" / "weights" / "dinov2_vitb14_pretrain.pth"
    pins = json.loads((homes / "p2p" / "weights" / "pins.json").read_text())["pins"]
    assert pins["dinov2-vitb14"]["sha256"] == sha256_file(placed)
    code, out, _ = _cli("weights", "verify", "dinov2-vitb14")
    assert code == 0 and "pinned locally, not official" in out
    placed.write_bytes(b"Dinov2 bytes" * 100)
    code, out, err = _cli("weights", "verify")
    assert code == 1 and "HASH MISMATCH" in out and "dinov2-vitb14" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weights", "fetch"], "name the weight files to fetch, or pass --all"),
        (["weights", "fetch", "nope"], "no weight file named 'nope'"),
        (["weights", "fetch", "alexnet", "--sha256", "12"], "64 hex digits"),
        (["weights", "fetch", "alexnet", "vgg16", "--sha256", "ab" * 32], "exactly one"),
        (["weights", "path", "alexnet"], "weights fetch alexnet"),
        (["weights", "fetch", "fcn8s-cityscapes"], "Pass --sha256 with a hash you trust"),
    ],
)
def test_bad_requests_are_one_clear_error(homes: Path, args: list[str], message: str) -> None:
    code, _, err = _cli(*args)
    assert code == 2 and message in err, err


def test_a_pinned_file_that_changed_is_refused_when_loaded(
    homes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every later use checks the pin: the encoder loader refuses the changed file."""
    import torch

    from p2pbench.metrics.encoders import ENCODERS, EncoderWeightsError, load_weights

    mirror = homes / "mirror"
    mirror.mkdir()
    torch.save({"w": torch.zeros(3)}, mirror / "dinov2_vitb14_pretrain.pth")
    monkeypatch.setenv("P2PBENCH_WEIGHTS_MIRROR", mirror.as_uri())
    assert _cli("weights", "fetch", "dinov2-vitb14")[0] == 0
    spec = ENCODERS.get("dinov2-vitb14").weights
    loaded = load_weights("dinov2-vitb14", spec)
    assert loaded.provenance()["hash_check"] == "pinned locally, not official"
    torch.save({"w": torch.ones(3)}, homes / "p2p" / "weights" / "dinov2_vitb14_pretrain.pth")
    with pytest.raises(EncoderWeightsError, match="pinned when it was first fetched"):
        load_weights("dinov2-vitb14", spec)
