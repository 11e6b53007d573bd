"""The metric groups the evaluation loop feeds, each from the same uint8 images per batch.

Every evaluator follows one contract (detectron2's): `reset()`, `process(images, batch,
indices)` for each batch, `evaluate() -> EvaluatorOutput` once at the end (reduced across
processes by the metrics' sum states). The loop knows nothing else about them.

- `FCNEvaluator`: FCN-score (segmenter or nearest colour → confusion matrix), per-image scores.
- `PairedEvaluator`: L1, PSNR, SSIM (LPIPS when its weights are local) against the targets.
- `InceptionEvaluator`: FID, IS, KID from one InceptionV3 pass; the real images' reference
  statistics come from the content-keyed cache or are accumulated in the same pass and cached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

import torch

from p2pbench.data import Batch, quantize_uint8
from p2pbench.distributed import gather_lists, rank_and_world
from p2pbench.evaluation.label_maps import predict_classes, protocol_labels
from p2pbench.evaluation.segmenters import LoadedSegmenter, load_segmenter
from p2pbench.evaluation.spec import EncoderSpec
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.fcn_score import FCNScore, per_image_scores
from p2pbench.metrics.generative import GenerativeMetrics
from p2pbench.metrics.inception import try_build_extractor
from p2pbench.metrics.keys import group_metrics
from p2pbench.metrics.paired import PairedMetrics
from p2pbench.metrics.reference_stats import (
    StatsKey,
    find_cached,
    import_npz,
    load_stats,
    stats_path,
    store_cached,
)
from p2pbench.protocols import Protocol


@dataclass
class EvaluatorOutput:
    """What one evaluator contributes to a result."""

    metrics: dict[str, Any]
    provenance: dict[str, Any]  # one section of the result's provenance, by name
    counts: dict[str, Any] = field(default_factory=dict)
    per_image: list[dict[str, Any]] | None = None


class Evaluator(TypingProtocol):
    """One metric group: reset, process every batch, evaluate once."""

    group: str

    def reset(self) -> None: ...

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None: ...

    def evaluate(self) -> EvaluatorOutput: ...


class FCNEvaluator:
    """FCN-score under a protocol: outputs → label resolution → classes → confusion matrix."""

    group = "fcn"

    def __init__(
        self,
        protocol: Protocol,
        device: torch.device,
        *,
        per_image: bool,
        segmenter_weights: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.device = device
        self.segmenter: LoadedSegmenter | None = None
        if protocol.task == "labels2photo":
            self.segmenter = load_segmenter(protocol.segmenter, segmenter_weights, device)
        self.metric = FCNScore(
            protocol.num_classes,
            protocol.class_names,
            ignore_index=protocol.ignore_index,
            extra_channel=protocol.extra_channel,
        ).to(device)
        self.lut = _label_lut(protocol).to(device)
        self.keep_per_image = per_image
        self.reset()

    def reset(self) -> None:
        self.metric.reset()
        self.per_image: list[dict[str, Any]] = []

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None:
        p = self.protocol
        labels = self.lut[protocol_labels(batch.label, p).to(self.device)]
        pred = predict_classes(self.segmenter, images, p, tuple(labels.shape[-2:]))
        self.metric.update(pred, labels)
        if self.keep_per_image:
            scores = per_image_scores(pred, labels, p.num_classes, p.extra_channel, p.ignore_index)
            for sid, s in zip(batch.sample_ids, scores, strict=True):
                self.per_image.append({"sample_id": sid, **s})

    def evaluate(self) -> EvaluatorOutput:
        scores = self.metric.compute()
        keys = group_metrics("fcn")
        segmenter = (
            self.segmenter.describe()
            if self.segmenter is not None
            else {"name": self.protocol.segmenter}
        )
        return EvaluatorOutput(
            metrics={k: scores[k] for k in keys},
            provenance={"segmenter": segmenter},
            counts={k: v for k, v in scores.items() if k not in keys},
            per_image=gather_lists(self.per_image) if self.keep_per_image else None,
        )


def _label_lut(protocol: Protocol) -> torch.Tensor:
    """trainId → protocol class index (everything else → ignore)."""
    lut = torch.full((256,), protocol.ignore_index, dtype=torch.int64)
    lut[list(protocol.class_train_ids)] = torch.arange(protocol.num_classes)
    return lut


class PairedEvaluator:
    """L1, PSNR, SSIM (and LPIPS where available) of each output against its target."""

    group = "paired"

    def __init__(self, device: torch.device) -> None:
        self.metrics = PairedMetrics(device=device)
        self.device = device

    def reset(self) -> None:
        self.metrics.reset()

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None:
        target = quantize_uint8(batch.target)
        if target.shape != images.shape:
            raise ValueError(
                f"outputs {tuple(images.shape)} and targets {tuple(target.shape)} "
                "differ in shape; paired metrics need them on one grid"
            )
        self.metrics.update(images.to(self.device), target.to(self.device))

    def evaluate(self) -> EvaluatorOutput:
        values = self.metrics.compute()
        psnr = values.get("psnr")
        if isinstance(psnr, float) and math.isinf(psnr):
            values["psnr"] = Unavailable(
                "at least one output equals its target exactly, so its PSNR (and the mean) is "
                "infinite"
            ).as_dict()
        described = {
            "l1": "mean |output − target| / 255 per image, averaged",
            "psnr": "dB, data_range 255, per image, averaged",
            "ssim": "torchmetrics SSIM, Gaussian 11/1.5, data_range 255, per image",
        }
        return EvaluatorOutput(metrics=values, provenance={"paired": described})


class InceptionEvaluator:
    """FID, IS and KID of the outputs, the reference from the real targets (cached)."""

    group = "inception"

    def __init__(
        self, protocol: Protocol, device: torch.device, encoder: EncoderSpec, n_images: int
    ) -> None:
        self.extractor = try_build_extractor(encoder.fid_mode, encoder.inception_weights, device)
        self.key: StatsKey | None = None
        self.reference = None
        self.reference_origin = "none"
        self.reference_path = encoder.reference_stats
        if encoder.reference_stats is not None:
            path = encoder.reference_stats
            self.reference = import_npz(path) if path.endswith(".npz") else load_stats(path)
            self.reference_origin = f"file {path}"
        elif getattr(self.extractor, "weights", None) is not None:
            self.key = StatsKey(
                dataset=protocol.dataset,
                split=protocol.split,
                protocol=f"{protocol.key}:{protocol.digest()}",
                resolution=(protocol.image_size, protocol.image_size),
                mode=encoder.fid_mode,
                weights_sha256=self.extractor.weights.sha256,  # type: ignore[union-attr]
                n_images=n_images,
            )
            self.reference_path = str(stats_path(self.key))
            self.reference = find_cached(self.key)
            self.reference_origin = (
                f"cache {self.reference_path}"
                if self.reference is not None
                else f"computed in this pass, cached as {self.reference_path}"
            )
        self.reset()

    def reset(self) -> None:
        self.metrics = GenerativeMetrics(self.extractor, self.reference)

    @property
    def accumulate_real(self) -> bool:
        return self.reference is None

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None:
        self.metrics.update(images, indices)
        if self.accumulate_real:
            self.metrics.update_real(quantize_uint8(batch.target), indices)

    def evaluate(self) -> EvaluatorOutput:
        values = self.metrics.compute()
        if self.accumulate_real and self.key is not None and self.metrics.available:
            stats = self.metrics.real_stats({"key": self.key.as_dict()})  # on every rank
            if rank_and_world()[0] == 0:
                store_cached(self.key, stats)
        described = {
            **self.metrics.describe(),
            "reference_origin": self.reference_origin,
            "reference_path": self.reference_path,
        }
        return EvaluatorOutput(metrics=values, provenance={"inception": described})


def build_evaluators(
    protocol: Protocol,
    groups: Sequence[str],
    *,
    real_source: bool,
    device: torch.device,
    per_image: bool,
    segmenter_weights: str | None,
    encoder: EncoderSpec,
    n_images: int,
) -> list[Evaluator]:
    """The metric groups asked for that apply: FCN-score needs labels (or colour maps), paired
    metrics a generated image (the real photos equal their targets), Inception metrics photos."""
    evaluators: list[Evaluator] = []
    if "paired" in groups and not real_source:
        evaluators.append(PairedEvaluator(device))
    if "inception" in groups and protocol.task != "photo2labels":
        evaluators.append(InceptionEvaluator(protocol, device, encoder, n_images))
    if "fcn" in groups and protocol.task in ("labels2photo", "photo2labels"):
        evaluators.insert(
            0,
            FCNEvaluator(
                protocol, device, per_image=per_image, segmenter_weights=segmenter_weights
            ),
        )
    if not evaluators:
        raise ValueError(
            f"none of the metric groups {sorted(groups)} applies to {protocol.key} "
            f"({protocol.task}{', real images' if real_source else ''})"
        )
    return evaluators
