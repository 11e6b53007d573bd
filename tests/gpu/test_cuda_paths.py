"""The CUDA paths (marked gpu: skipped without a CUDA GPU; `benchmarks/gpu_check.sh` runs them):
evaluation on CUDA against the CPU, TF32 kept off for the metric networks, and training steps
in fp32, bf16 and compiled."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from p2pbench import compute
from p2pbench.evaluation import (
    EncoderSpec,
    GeneratorModule,
    RealImages,
    RunSpec,
    ScoreSpec,
    evaluate,
)
from p2pbench.train import TrainConfig, build_models, train, train_step
from p2pbench.train.batches import StepBatches
from p2pbench.train.trainer import training_data
from reference_models import build_generator

pytestmark = pytest.mark.gpu

TINY = dict(generator="unet32", discriminator="patch16", ngf=8, ndf=8, n_train=4, batch_size=2)


def test_metric_math_turns_tf32_off_and_restores_it() -> None:
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    with compute.metric_math("cuda"):
        assert not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


def _cpu_and_cuda(source: object, inception_weights_file: Path) -> tuple:
    common = dict(
        protocol="synthcity",
        score=ScoreSpec(limit=32, allow_partial_split=True),
        encoder=EncoderSpec(inception_weights=str(inception_weights_file)),
    )
    return tuple(
        evaluate(source, run=RunSpec(device=d, progress=False), **common)  # type: ignore[arg-type]
        for d in ("cpu", "cuda")
    )


def test_the_metric_networks_on_cuda_equal_the_cpu(inception_weights_file: Path) -> None:
    """Same input images (the real photos as the fakes): the FCN argmax pixels agree (measured
    99.9999 % on the H200), so FCN-scores agree to 1e-4; TF32 stays off."""
    cpu, cuda = _cpu_and_cuda(RealImages(), inception_weights_file)
    for key in ("per_pixel_acc", "per_class_acc", "class_iou"):
        assert abs(cuda.metrics[key] - cpu.metrics[key]) <= 1e-4, key
    assert cuda.provenance["compute"]["tf32"] is False


def test_eval_of_a_generator_on_cuda_is_near_the_cpu(inception_weights_file: Path) -> None:
    """The generator's outputs agree to 1e-5 before they are rounded to uint8; a pixel that
    rounds the other way can flip an FCN argmax near a tie, so FCN-scores of a random
    generator agree to 1e-3 per pixel and 3e-3 per class (measured on the H200: 5.0e-4 and
    1.1e-3; a few pixels of a rare class move its accuracy most), FID to 1e-3 relative
    (measured: 4.1e-4 of a random-weight InceptionV3's FID of 2.7e6, which amplifies them)."""
    g = build_generator("unet128", seed=0, ngf=16).eval()
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.inference_mode(), compute.metric_math("cuda"):
        on_cpu, on_cuda = g(x), g.cuda()(x.cuda()).cpu()
    g.cpu()
    assert (on_cuda - on_cpu).abs().max().item() <= 1e-5
    cpu, cuda = _cpu_and_cuda(GeneratorModule(g, name="unet128"), inception_weights_file)
    for key, tolerance in (("per_pixel_acc", 1e-3), ("per_class_acc", 3e-3), ("class_iou", 3e-3)):
        assert abs(cuda.metrics[key] - cpu.metrics[key]) <= tolerance, key
    assert abs(cuda.metrics["fid"] - cpu.metrics["fid"]) <= 1e-3 * abs(cpu.metrics["fid"])


@pytest.mark.parametrize(
    ("precision", "tf32", "rel"),
    [("fp32", False, 1e-4), ("fp32", True, 3e-3), ("bf16", True, 3e-2)],
    ids=["fp32", "fp32-cudnn-tf32-default", "bf16"],
)
def test_a_training_step_on_cuda_is_near_the_cpu_step(
    precision: str, tf32: bool, rel: float
) -> None:
    """Training keeps PyTorch's default on CUDA, TF32 convolutions (measured: the L1 loss
    1.0e-3 relative from the CPU's on the H200); with TF32 off the step is fp32's. Dropout is
    off: CUDA and the CPU draw different masks (with it on, fp32 differed by 1.25e-4)."""
    config = TrainConfig(precision=precision, dropout=False, **TINY)  # type: ignore[arg-type]
    losses = {}
    for device in ("cpu", "cuda"):
        c = dataclasses.replace(config, device=device)
        torch.manual_seed(0)
        m = build_models(c)
        batch, _ = StepBatches(training_data(c), seed=0, batch_size=c.batch_size)[0]
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=tf32):
            losses[device] = train_step(c, m, batch)
    for k, v in losses["cpu"].items():
        assert losses["cuda"][k] == pytest.approx(v, rel=rel), k


def test_compiled_bf16_training_runs_on_cuda(tmp_path: Path) -> None:
    config = TrainConfig(
        device="cuda", precision="bf16", compile=True, max_steps=3, workers=2, **TINY
    )  # type: ignore[arg-type]
    checkpoint = train(config, tmp_path / "run", progress=False)
    assert checkpoint.is_file()


def _golden_modules():  # noqa: ANN202 (the goldens' modules, from tests/reference)
    from reference.encoder_goldens import clip, common, dinov2, prdc

    return common, dinov2, clip, prdc


def test_the_feature_encoders_on_cuda_reproduce_the_goldens(tmp_path: Path) -> None:
    """Each encoder on CUDA (TF32 off, as the evaluation runs them) against the reference
    goldens computed on the CPU: within 1e-4 of max|golden| (1e-5 holds on the CPU)."""
    import json

    import numpy as np
    from safetensors.torch import save_file

    from p2pbench.metrics.encoders import build_encoder

    common, dinov2, clip, prdc = _golden_modules()
    record = json.loads((common.GOLDENS / "dinov2.json").read_text())
    template = {k: torch.empty(s) for k, s in record["hub_state_dict"]["vitb14"]}
    torch.save(
        common.seeded_state_dict(template, record["seed"], dinov2.init()), tmp_path / "d.pth"
    )
    torch.save(prdc.vgg16_state_dict(), tmp_path / "v.pth")
    save_file(clip.seeded_weights(), str(tmp_path / "model.safetensors"))
    cases = [
        *(
            ("dinov2-vitb14", m, "d.pth", "dinov2.npz", f"vitb14/{m}")
            for m in ("dgm-eval", "edm2", "torch-fidelity")
        ),
        ("vgg16-fc2", "torch-fidelity", "v.pth", "prdc.npz", "vgg16_fc2_relu"),
        ("clip-vitl14-336", "center-crop", "model.safetensors", "clip.npz", "embeddings"),
    ]
    images = [torch.from_numpy(im).permute(2, 0, 1)[None] for im in common.fixed_images()]
    for name, mode, weights, npz, key in cases:
        encoder = build_encoder(name, mode, weights=tmp_path / weights, device="cuda")
        with compute.metric_math("cuda"):
            got = torch.cat([encoder(im) for im in images]).cpu().numpy()
        want = np.load(common.GOLDENS / npz)[key]
        error = float(np.abs(got - want).max() / np.abs(want).max())
        print(f"{name} {mode}: {error:.2e}")
        assert error <= 1e-4, (name, mode, error)
