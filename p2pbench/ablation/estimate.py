"""The time an ablation will take, from a short measured warm-up on this machine.

For each distinct network setting of the plan (generator, discriminator, loss, batch size) a few
real training steps run on real training batches after one untimed step; scoring is timed on
one batch of the protocol's images through the generator and the segmenter. The estimate is the
measured seconds per step × the steps of every run, plus the scoring of every run and of the
ground truth. Nothing is written; the global RNG state is restored afterwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass

import torch

from fcn.fcn8s import caffe_preprocess
from p2pbench.ablation.plans import PlannedAblation
from p2pbench.data import collate_samples, quantize_uint8
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.segmenters import load_segmenter
from p2pbench.timing import format_duration, project
from p2pbench.train import TrainConfig
from p2pbench.train.trainer import build_models, train_step, training_data
from reference_models import translate

WARMUP_STEPS = 3


@dataclass(frozen=True)
class Estimate:
    seconds: float
    seconds_per_step: dict[str, float]  # per distinct network setting
    seconds_per_image: float  # scoring
    total_steps: int
    scored_images: int

    def describe(self) -> str:
        return f"about {format_duration(self.seconds)}"


def run_steps(config: TrainConfig, n_train: int) -> int:
    """The number of steps a run of `config` takes on `n_train` training samples."""
    total = config.epochs * math.ceil(n_train / config.batch_size)
    return min(total, config.max_steps) if config.max_steps is not None else total


def _key(config: TrainConfig) -> str:
    return f"{config.generator}/{config.discriminator}/{config.loss}/b{config.batch_size}"


def _time_steps(config: TrainConfig) -> tuple[float, int]:
    """(seconds per training step, training-set size) measured on real batches."""
    data = training_data(config)
    models = build_models(config)
    models.generator.train()
    if models.discriminator is not None:
        models.discriminator.train()
    times = []
    for step in range(WARMUP_STEPS + 1):
        idx = [(step * config.batch_size + i) % len(data) for i in range(config.batch_size)]
        start = time.perf_counter()
        batch = collate_samples([data[i] for i in idx])
        train_step(config, models, batch)
        if step > 0:  # the first step pays for allocations and lazy initialisation
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], len(data)


def _time_scoring(planned: PlannedAblation, config: TrainConfig) -> float:
    """Seconds per scored image: generator and segmenter on one batch of protocol images."""
    protocol = planned.protocol
    data = protocol_dataset(protocol, None, config.data_root)
    n = min(8, len(data))
    batch = collate_samples([data[i] for i in range(n)])
    models = build_models(config)
    segmenter = None
    if protocol.task == "labels2photo" and protocol.segmenter not in ("none", "nearest-colour"):
        segmenter = load_segmenter(protocol.segmenter, device=config.device).module
    start = time.perf_counter()
    with torch.inference_mode():
        out = translate(
            models.generator,
            batch.input.to(config.device),
            mode=protocol.test_time_mode,
            sample_ids=list(batch.sample_ids),
        )
        if segmenter is not None:
            segmenter(caffe_preprocess(quantize_uint8(out)))
    return (time.perf_counter() - start) / n


def estimate(
    planned: PlannedAblation, run_ids: Collection[str] | None = None, ground_truth: bool = True
) -> Estimate:
    """Measure a short warm-up of each distinct setting and extrapolate to the runs `run_ids`
    (None: every run of the plan) and, with `ground_truth`, the scoring of the real images."""
    runs = [r for r in planned.runs if run_ids is None or r.run_id in run_ids]
    state = torch.get_rng_state()
    try:
        per_step: dict[str, float] = {}
        sizes: dict[str, int] = {}
        for run in runs:
            key = _key(run.config)
            if key not in per_step:
                per_step[key], sizes[key] = _time_steps(run.config)
        per_image = _time_scoring(planned, planned.runs[0].config) if planned.runs else 0.0
    finally:
        torch.set_rng_state(state)
    steps = {r.run_id: run_steps(r.config, sizes[_key(r.config)]) for r in runs}
    train_s = sum(project(per_step[_key(r.config)], steps[r.run_id]) for r in runs)
    images = planned.protocol.expected_images * (len(runs) + int(ground_truth))
    return Estimate(
        seconds=project(per_image, images, fixed_s=train_s),
        seconds_per_step=per_step,
        seconds_per_image=per_image,
        total_steps=sum(steps.values()),
        scored_images=images,
    )
