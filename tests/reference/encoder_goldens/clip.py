"""Goldens of the CMMD PyTorch port (sayakpaul/cmmd-pytorch): its CLIP embeddings of the fixed
images under seeded weights, and its MMD on seeded synthetic embeddings.

The port's own code runs unchanged: ``io_util.compute_embeddings_for_dir`` reads the fixed images
(written as PNG files) with its ``CMMDDataset`` (centre square crop, PIL bicubic to 336) and
embeds them with ``embedding.ClipEmbeddingModel``, whose two ``from_pretrained`` calls are
replaced (nothing is downloaded): the image processor gets the hub's preprocessor config, the
model is built from the hub's vision config and loads `seeded_weights()`. The port names no
attention implementation: with the transformers of its time (April 2024, before CLIP had SDPA)
it ran "eager", which gives ``embeddings``; ``embeddings_sdpa`` is what today's default gives.
``distance.mmd`` gets float64 arrays (it keeps their dtype), so p2pbench's float64 `cmmd` can
match it to ~1e-12.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import PIL
import torch
from PIL import Image
from torch import Tensor

from .common import fixed_images, normal_init, seeded_state_dict

COMMITS = {"cmmd-pytorch": "f7673a9f46320ac958878c19f7686e203376ad9d"}
REPOS = {"cmmd-pytorch": "sayakpaul/cmmd-pytorch"}
SEED = 14
INIT_STD = 0.1  # at 0.02 the CLS token barely depends on the image (pairwise cosine 0.996)
BATCH_SIZE = 2  # 3 images: one full batch and one partial, which the port keeps
MMD_SEED = 1414
MMD_ROWS = (100, 80)  # neither a multiple of the reference batch size 32
MMD_DIM = 768
ORIGINAL_BATCH = 32  # google-research/cmmd drops the last partial batch of this size

# vision_config and preprocessor_config.json of openai/clip-vit-large-patch14-336 on the hub
# (the values the port's from_pretrained calls would read).
HF_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_channels": 3,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "attention_dropout": 0.0,
}
HF_PREPROCESSOR_CONFIG: dict[str, Any] = {
    "crop_size": {"height": 336, "width": 336},
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": {"shortest_edge": 336},
}


def template() -> dict[str, Tensor]:
    """The vision tower's state dict keys and shapes (meta tensors, Hugging Face names)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.device("meta"):
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**HF_VISION_CONFIG))
    return model.state_dict()


def seeded_weights() -> dict[str, Tensor]:
    """The golden's vision weights, in Hugging Face's checkpoint format."""
    return seeded_state_dict(template(), SEED, normal_init(INIT_STD))


def mmd_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Two sets of unit-norm float64 embeddings, the second shifted along a common direction."""
    rng = np.random.default_rng(MMD_SEED)
    shift = rng.normal(size=MMD_DIM)
    x = rng.normal(size=(MMD_ROWS[0], MMD_DIM))
    y = rng.normal(size=(MMD_ROWS[1], MMD_DIM)) + 0.5 * shift
    return _unit(x), _unit(y)


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _patch_pretrained(
    embedding: ModuleType, weights: dict[str, Tensor], attn: str | None
) -> dict[str, str]:
    """Replace the port's two hub loaders by offline ones (`attn`: the attention implementation,
    None for transformers' default); returns what the model was built with."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    built: dict[str, str] = {}

    class Processor(CLIPImageProcessor):
        @classmethod
        def from_pretrained(cls, name: str, *args: Any, **kw: Any) -> CLIPImageProcessor:
            built["processor"] = name
            return CLIPImageProcessor(**HF_PREPROCESSOR_CONFIG)

    class Model(CLIPVisionModelWithProjection):
        @classmethod
        def from_pretrained(cls, name: str, *args: Any, **kw: Any) -> CLIPVisionModelWithProjection:
            kw = {"attn_implementation": attn} if attn else {}
            model = CLIPVisionModelWithProjection(CLIPVisionConfig(**HF_VISION_CONFIG, **kw))
            model.load_state_dict(weights, strict=True)
            built["model"] = name
            built["attn_implementation"] = str(model.config._attn_implementation)
            return model

    embedding.CLIPImageProcessor = Processor
    embedding.CLIPVisionModelWithProjection = Model
    return built


def port_embeddings(
    port: Path, images: list[np.ndarray], weights: dict[str, Tensor], attn: str | None
) -> tuple[np.ndarray, dict[str, str]]:
    """The port's embeddings of `images` (through PNG files and its own loader), float32."""
    embedding = _import(port / "embedding.py", "_cmmd_port_embedding")
    io_util = _import(port / "io_util.py", "_cmmd_port_io_util")
    built = _patch_pretrained(embedding, weights, attn)
    model = embedding.ClipEmbeddingModel()
    with tempfile.TemporaryDirectory() as tmp:
        for i, im in enumerate(images):
            Image.fromarray(im).save(Path(tmp) / f"{i:02d}.png")
        embs = io_util.compute_embeddings_for_dir(tmp, model, BATCH_SIZE)
    return np.asarray(embs), built


def port_mmd(port: Path, x: np.ndarray, y: np.ndarray) -> float:
    distance = _import(port / "distance.py", "_cmmd_port_distance")
    return float(distance.mmd(x, y))


def make(sources: Path, out: Path) -> None:
    """Run the port on the fixed images and the seeded embeddings; write clip.npz/clip.json."""
    port = sources / "cmmd-pytorch"
    torch.manual_seed(0)  # the port's model is built randomly before the seeded weights load
    images, weights = fixed_images(), seeded_weights()
    embs, built = port_embeddings(port, images, weights, "eager")
    embs_sdpa, built_sdpa = port_embeddings(port, images, weights, None)
    for e in (embs, embs_sdpa):
        if e.shape != (len(images), 768):
            raise RuntimeError(f"the port returned {e.shape} embeddings for {len(images)} images")
    x, y = mmd_inputs()
    mmd64 = port_mmd(port, x, y)
    mmd32 = port_mmd(port, x.astype(np.float32), y.astype(np.float32))
    n_x, n_y = (n // ORIGINAL_BATCH * ORIGINAL_BATCH for n in MMD_ROWS)
    mmd_dropped = port_mmd(port, x[:n_x], y[:n_y])
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "clip.npz", embeddings=embs, embeddings_sdpa=embs_sdpa)
    cos = embs @ embs.T
    doc = {
        "encoder": "clip-vitl14-336",
        "mode": "center-crop",
        "reference": {"repo": REPOS["cmmd-pytorch"], "commit": COMMITS["cmmd-pytorch"]},
        "weights": {"seed": SEED, "init": f"normal_init(std={INIT_STD})", "keys": "HF"},
        "port_built": {"embeddings": built, "embeddings_sdpa": built_sdpa},
        "sdpa_vs_eager_max_rel": float(np.abs(embs_sdpa - embs).max() / np.abs(embs).max()),
        "batch_size": BATCH_SIZE,
        "images": [list(im.shape) for im in images],
        "embeddings_dtype": str(embs.dtype),
        "embeddings_pairwise_cosine": cos[np.triu_indices(len(images), 1)].tolist(),
        "mmd": {
            "seed": MMD_SEED,
            "rows": list(MMD_ROWS),
            "dim": MMD_DIM,
            "inputs_sum": [float(x.sum()), float(y.sum())],
            "float64": mmd64,
            "float32": mmd32,
            "drop_remainder_32": {"rows": [n_x, n_y], "float64": mmd_dropped},
        },
        "versions": _versions(),
    }
    (out / "clip.json").write_text(json.dumps(doc, indent=1) + "\n")


def _versions() -> dict[str, str]:
    import transformers

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }
