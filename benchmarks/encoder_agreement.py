"""Agreement of each feature encoder with its reference's goldens, per compute path.

The goldens (`tests/reference/goldens/encoders/`) are the references' own outputs on three
fixed images of different sizes with seeded random weights (`tests/reference/encoder_goldens/`
made them). Each encoder is run here one image at a time, as the references ran, on the two
paths `evaluate` uses: NCHW (`--exact`, and the Python API's default) and channels-last (plain
`eval`). For each path: whether the features equal the golden bit for bit (after rounding ours
to the golden's dtype) and the largest difference, max|ours − golden| / max|golden|.

    python -m benchmarks.encoder_agreement      # writes benchmarks/results/encoder-agreement.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from reference.encoder_goldens import clip as clip_golden  # noqa: E402
from reference.encoder_goldens import common  # noqa: E402
from reference.encoder_goldens import dinov2 as dinov2_golden  # noqa: E402
from reference.encoder_goldens import prdc as prdc_golden  # noqa: E402

from benchmarks.common import write_results  # noqa: E402
from p2pbench.metrics.encoders import build_encoder  # noqa: E402

GOLDENS = common.GOLDENS
PATHS = (("nchw (--exact, API)", False), ("channels-last (eval)", True))


def _dinov2_weights(arch: str, folder: Path) -> Path:
    record = json.loads((GOLDENS / dinov2_golden.JSON).read_text())
    template = {k: torch.empty(shape) for k, shape in record["hub_state_dict"][arch]}
    path = folder / f"{arch}.pth"
    torch.save(common.seeded_state_dict(template, record["seed"], dinov2_golden.init()), path)
    return path


def _cases(folder: Path) -> list[tuple[str, str, Path, np.ndarray, str]]:
    """(encoder, mode, weights file, golden features, reference) of every golden."""
    from safetensors.torch import save_file

    dinov2 = np.load(GOLDENS / dinov2_golden.NPZ)
    vitb, vitl = _dinov2_weights("vitb14", folder), _dinov2_weights("vitl14", folder)
    vgg = folder / "vgg16.pth"
    torch.save(prdc_golden.vgg16_state_dict(), vgg)
    clip = folder / "clip.safetensors"
    save_file(clip_golden.seeded_weights(), str(clip))
    clip_npz = np.load(GOLDENS / "clip.npz")
    ref = {"dgm-eval": "dgm-eval", "edm2": "EDM2", "torch-fidelity": "torch-fidelity 0.4.0"}
    return [
        *(
            ("dinov2-vitb14", mode, vitb, dinov2[f"vitb14/{mode}"], ref[mode])
            for mode in ("dgm-eval", "edm2", "torch-fidelity")
        ),
        ("dinov2-vitl14", "dgm-eval", vitl, dinov2["vitl14/dgm-eval"], "dgm-eval"),
        (
            "vgg16-fc2",
            "torch-fidelity",
            vgg,
            np.load(GOLDENS / "prdc.npz")["vgg16_fc2_relu"],
            "torch-fidelity 0.4.0",
        ),  # fmt: skip
        ("clip-vitl14-336", "center-crop", clip, clip_npz["embeddings"], "cmmd-pytorch (eager)"),
        (
            "clip-vitl14-336",
            "center-crop",
            clip,
            clip_npz["embeddings_sdpa"],
            "cmmd-pytorch (sdpa)",
        ),
    ]


def _features(name: str, mode: str, weights: Path, channels_last: bool) -> np.ndarray:
    encoder = build_encoder(name, mode, weights=weights, channels_last=channels_last)
    images = [torch.from_numpy(im).permute(2, 0, 1)[None] for im in common.fixed_images()]
    with torch.inference_mode():
        return torch.cat([encoder(im) for im in images]).numpy()


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, mode, weights, golden, reference in _cases(Path(tmp)):
            for path, channels_last in (
                ("nchw (--exact, API)", False),
                ("channels-last (eval)", True),
            ):
                ours = _features(name, mode, weights, channels_last)
                rows.append(
                    {
                        "encoder": name,
                        "mode": mode,
                        "reference": reference,
                        "path": path,
                        "bit_identical": bool(np.array_equal(ours.astype(golden.dtype), golden)),
                        "max_rel": float(np.abs(ours - golden).max() / np.abs(golden).max()),
                    }
                )
                found = (
                    "bit-identical" if rows[-1]["bit_identical"] else f"{rows[-1]['max_rel']:.2e}"
                )
                print(f"{name:16} {mode:15} {reference:22} {path:22} {found}")
    print(write_results("encoder-agreement", rows))


if __name__ == "__main__":
    main()
