"""The DINOv2 encoders against goldens of the reference implementations' own code.

``tests/reference/goldens/encoders/dinov2.{npz,json}`` were written by
``tests/reference/encoder_goldens/dinov2.py``: dgm-eval, EDM2 and torch-fidelity 0.4 running
Meta's hub model (at the recorded commits) with seeded weights on three fixed images. Here the
same seeded weights are rebuilt without the hub code, from the key → shape list recorded in the
JSON (itself checked against the layout derived from timm's model), saved in the hub file format
and loaded through `build_encoder`.

Error measure: max relative error = max|a − b| / max|b| over all features of a case, b the
golden; bound 1e-5. The features are O(1) (max |b| ≈ 3.5–4.2) and the three preprocessing modes
differ from each other by about 2–4 %, so any deviation in resizing, normalisation or the
position embedding is orders of magnitude above the bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference.encoder_goldens import common
from reference.encoder_goldens import dinov2 as golden

from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders import dinov2
from p2pbench.metrics.encoders.registry import build_encoder, encoder_info, try_build_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError
from p2pbench.metrics.frechet import frechet_distance, stats_from_features

MAX_REL = 1e-5
FD_REL = 1e-6
GOLDEN = np.load(common.GOLDENS / golden.NPZ)
RECORD: dict[str, Any] = json.loads((common.GOLDENS / golden.JSON).read_text())
NAMES = {"vitb14": "dinov2-vitb14", "vitl14": "dinov2-vitl14"}


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """max|a − b| / max|b|."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def seeded_weights_file(arch: str, path: Path) -> Path:
    """The golden run's seeded hub weights, rebuilt from the recorded key → shape list."""
    template = {k: torch.empty(shape) for k, shape in RECORD["hub_state_dict"][arch]}
    weights = common.seeded_state_dict(template, RECORD["seed"], golden.init())
    torch.save(weights, path)
    return path


@pytest.fixture(scope="module")
def vitb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_weights_file("vitb14", tmp_path_factory.mktemp("dinov2") / "vitb14.pth")


def features(name: str, mode: str, weights: Path) -> np.ndarray:
    """The encoder's features of the fixed images, one image (of its own size) at a time."""
    encoder = build_encoder(name, mode, weights=weights)
    images = [torch.from_numpy(im).permute(2, 0, 1)[None] for im in common.fixed_images()]
    out = torch.cat([encoder(im) for im in images])
    assert out.dtype == torch.float64 and out.shape == (3, encoder.info.dim)
    return out.numpy()


def test_record_matches_the_reference_run() -> None:
    assert RECORD["commits"] == golden.COMMITS
    assert (
        RECORD["seed"] == golden.SEED and RECORD["init"] == f"common.normal_init({golden.INIT_STD})"
    )
    assert sorted(RECORD["cases"]) == sorted(f"{a}/{m}" for a, m in golden.CASES)


@pytest.mark.parametrize("arch", ["vitb14", "vitl14"])
def test_hub_layout_derived_from_timm(arch: str) -> None:
    """Meta's checkpoint keys and shapes are timm's, plus mask_token and the 37×37 grid."""
    recorded = {k: tuple(s) for k, s in RECORD["hub_state_dict"][arch]}
    assert dinov2.hub_shapes(NAMES[arch]) == recorded


@pytest.mark.parametrize("mode", ["dgm-eval", "edm2", "torch-fidelity"])
def test_vitb14_matches_reference(mode: str, vitb_file: Path) -> None:
    err = max_rel(features("dinov2-vitb14", mode, vitb_file), GOLDEN[f"vitb14/{mode}"])
    print(f"vitb14/{mode}: max relative error {err:.2e}")
    assert err <= MAX_REL


def test_modes_differ(vitb_file: Path) -> None:
    """The goldens tell the modes apart far beyond the tolerance."""
    modes = ["dgm-eval", "edm2", "torch-fidelity"]
    for i, a in enumerate(modes):
        for b in modes[i + 1 :]:
            assert max_rel(GOLDEN[f"vitb14/{a}"], GOLDEN[f"vitb14/{b}"]) > 1e-3


@pytest.mark.slow
def test_vitl14_dgm_eval_matches_reference(tmp_path: Path) -> None:
    weights = seeded_weights_file("vitl14", tmp_path / "vitl14.pth")
    err = max_rel(features("dinov2-vitl14", "dgm-eval", weights), GOLDEN["vitl14/dgm-eval"])
    print(f"vitl14/dgm-eval: max relative error {err:.2e}")
    assert err <= MAX_REL


def test_frechet_distance_matches_dgm_eval() -> None:
    real, fake = golden.fd_features()
    ours = frechet_distance(
        stats_from_features(torch.from_numpy(real)), stats_from_features(torch.from_numpy(fake))
    )
    expected = float(GOLDEN["fd/dgm-eval"])
    assert abs(ours - expected) <= FD_REL * abs(expected)


def test_pos_embed_is_the_hubs_bicubic_with_offset() -> None:
    """The 224 px embedding is bicubic at scale (16 + 0.1)/37 on the 37×37 grid, class entry
    unchanged; timm's own resample (size 16×16) lands elsewhere, by percents."""
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 1 + 37 * 37, 8, generator=g)
    grid = pos[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    direct = F.interpolate(grid, scale_factor=16.1 / 37, mode="bicubic", antialias=False)
    expected = torch.cat((pos[:, :1], direct.permute(0, 2, 3, 1).reshape(1, 256, 8)), dim=1)
    got = dinov2.hub_pos_embed(pos)
    assert got.shape == (1, 257, 8)
    assert torch.equal(got, expected)

    from timm.layers import resample_abs_pos_embed

    timm_default = resample_abs_pos_embed(pos, new_size=(16, 16), num_prefix_tokens=1)
    assert torch.equal(timm_default[:, 0], got[:, 0])
    rel = (timm_default - got)[:, 1:].abs().max() / got[:, 1:].abs().max()
    assert rel > 0.02


def test_timm_resample_misses_the_golden(vitb_file: Path) -> None:
    """With timm's own resample of the 37×37 embedding the features move by about 1 %."""
    from timm.layers import resample_abs_pos_embed

    encoder = build_encoder("dinov2-vitb14", "dgm-eval", weights=vitb_file)
    hub = torch.load(vitb_file, weights_only=True)["pos_embed"]
    encoder.model.pos_embed.data = resample_abs_pos_embed(hub, (16, 16), num_prefix_tokens=1)
    image = torch.from_numpy(common.fixed_images()[0]).permute(2, 0, 1)[None]
    assert max_rel(encoder(image).numpy(), GOLDEN["vitb14/dgm-eval"][:1]) > 1e-3


def test_pos_embed_of_a_224_grid_is_kept() -> None:
    pos = torch.randn(1, 257, 4)
    assert torch.equal(dinov2.hub_pos_embed(pos), pos)


def test_describe_names_the_mode_and_reference(vitb_file: Path) -> None:
    described = build_encoder("dinov2-vitb14", "edm2", weights=vitb_file).describe()
    assert described["mode"] == "edm2" and described["dim"] == 768
    assert described["comparable_with"] is None  # EDM2 computes no ViT-B/14 features
    torch_fidelity = build_encoder("dinov2-vitb14", "torch-fidelity", weights=vitb_file)
    assert "torch-fidelity" in torch_fidelity.describe()["comparable_with"]
    assert described["weights"]["path"] == str(vitb_file)


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'clean'.*dgm-eval"):
        build_encoder("dinov2-vitb14", "clean")


def test_vitb_weights_for_vitl(vitb_file: Path) -> None:
    with pytest.raises(EncoderWeightsError, match=r"not DINOv2 ViT-L/14.*768-d, as in ViT-B/14"):
        build_encoder("dinov2-vitl14", weights=vitb_file)


def test_not_dinov2_weights(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2, 3, 1, 1)}, path)
    with pytest.raises(EncoderWeightsError) as e:
        build_encoder("dinov2-vitb14", weights=path)
    message = str(e.value)
    assert "not DINOv2 ViT-B/14" in message and "dinov2_vitb14_pretrain.pth" in message
    assert "missing key(s): cls_token" in message and "unexpected key(s): conv.weight" in message


def test_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    # a timm 224 px export's position embedding, not the hub's 37×37 grid
    torch.save({"cls_token": torch.zeros(1, 1, 768), "pos_embed": torch.zeros(1, 257, 768)}, path)
    with pytest.raises(EncoderWeightsError, match=r"pos_embed has shape \(1, 257, 768\), expected"):
        build_encoder("dinov2-vitb14", weights=path)


def test_missing_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("P2PBENCH_DINOV2_VITB14_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    result = try_build_encoder("dinov2-vitb14")
    assert isinstance(result, Unavailable)
    assert "P2PBENCH_DINOV2_VITB14_WEIGHTS" in result.reason
    assert "dinov2_vitb14_pretrain.pth" in result.reason


def test_only_references_that_exist_are_named_comparable() -> None:
    # EDM2's calculate_metrics runs DINOv2 ViT-L/14 only; dgm-eval and torch-fidelity run both
    large, base = encoder_info("dinov2-vitl14"), encoder_info("dinov2-vitb14")
    assert str(large.comparable["edm2"]).startswith("EDM2")
    assert "edm2" not in base.comparable and "EDM2" not in " ".join(base.comparable.values())
    assert set(base.comparable) == {"dgm-eval", "torch-fidelity"}
