"""The CUDA paths (marked gpu: skipped without a CUDA GPU; `benchmarks/gpu_check.sh` runs them):
evaluation on CUDA against the CPU, TF32 kept off for the metric networks, and training steps
in fp32, bf16 and compiled."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from p2pbench import compute
from p2pbench.evaluation import EncoderSpec, GeneratorModule, RunSpec, ScoreSpec, evaluate
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


def test_eval_on_cuda_equals_the_cpu(inception_weights_file: Path) -> None:
    """FCN-score from the same argmax pixels (≥ 99.99 % equal: the scores agree to 1e-4),
    FID within 1e-4 relative."""
    g = build_generator("unet128", seed=0, ngf=16)
    common = dict(
        protocol="synthcity",
        score=ScoreSpec(limit=32, allow_partial_split=True),
        encoder=EncoderSpec(inception_weights=str(inception_weights_file)),
    )
    cpu = evaluate(GeneratorModule(g, name="unet128"), run=RunSpec(progress=False), **common)  # type: ignore[arg-type]
    cuda = evaluate(
        GeneratorModule(g, name="unet128"),
        run=RunSpec(device="cuda", progress=False),
        **common,  # type: ignore[arg-type]
    )
    for key in ("per_pixel_acc", "per_class_acc", "class_iou"):
        assert abs(cuda.metrics[key] - cpu.metrics[key]) <= 1e-4, key
    assert abs(cuda.metrics["fid"] - cpu.metrics["fid"]) <= 1e-4 * abs(cpu.metrics["fid"])
    assert cuda.provenance["compute"]["tf32"] is False


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_training_step_on_cuda_is_near_the_cpu_step(precision: str) -> None:
    config = TrainConfig(precision=precision, **TINY)  # type: ignore[arg-type]
    losses = {}
    for device in ("cpu", "cuda"):
        c = dataclasses.replace(config, device=device)
        torch.manual_seed(0)
        m = build_models(c)
        batch, _ = StepBatches(training_data(c), seed=0, batch_size=c.batch_size)[0]
        losses[device] = train_step(c, m, batch)
    rel = 1e-3 if precision == "fp32" else 3e-2  # cuDNN may use TF32 for training convolutions
    for k, v in losses["cpu"].items():
        assert losses["cuda"][k] == pytest.approx(v, rel=rel), k


def test_compiled_bf16_training_runs_on_cuda(tmp_path: Path) -> None:
    config = TrainConfig(
        device="cuda", precision="bf16", compile=True, max_steps=3, workers=2, **TINY
    )  # type: ignore[arg-type]
    checkpoint = train(config, tmp_path / "run", progress=False)
    assert checkpoint.is_file()
