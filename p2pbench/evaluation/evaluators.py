"""The metric groups the evaluation loop feeds, each from the same uint8 images per batch.

- `FCNScorer`: FCN-score (segmenter or nearest colour → confusion matrix), with per-image scores.
- `PairedScorer`: L1, PSNR, SSIM (LPIPS when its weights are local) against the targets.
- `GenerativeScorer`: FID, IS, KID from one InceptionV3 pass; the real images' reference
  statistics come from the content-keyed cache or are accumulated in the same pass and cached.

Each has `update(images, batch, indices)`, `compute() -> dict` (result keys → values, an
unavailable metric as {"available": false, "reason": ...}) and `describe() -> dict` (provenance).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from p2pbench.data import Batch, quantize_uint8
from p2pbench.evaluation.label_maps import predict_classes, protocol_labels
from p2pbench.evaluation.segmenters import LoadedSegmenter, load_segmenter
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.fcn_score import FCNScore, per_image_scores
from p2pbench.protocols import Protocol

FCN_KEYS = ("per_pixel_acc", "per_class_acc", "class_iou", "per_class")


class FCNScorer:
    """FCN-score under a protocol: outputs → label resolution → classes → confusion matrix."""

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
        self.per_image: list[dict[str, Any]] | None = [] if per_image else None

    def update(self, images: torch.Tensor, batch: Batch, indices: list[int]) -> None:

        p = self.protocol
        labels = self.lut[protocol_labels(batch.label, p).to(self.device)]
        pred = predict_classes(self.segmenter, images, p, tuple(labels.shape[-2:]))
        self.metric.update(pred, labels)
        if self.per_image is not None:
            scores = per_image_scores(pred, labels, p.num_classes, p.extra_channel, p.ignore_index)
            for sid, s in zip(batch.sample_ids, scores, strict=True):
                self.per_image.append({"sample_id": sid, **s})

    def compute(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(metrics, counts)."""
        scores = self.metric.compute()
        return (
            {k: scores[k] for k in FCN_KEYS},
            {k: v for k, v in scores.items() if k not in FCN_KEYS},
        )

    def describe(self) -> dict[str, Any]:
        if self.segmenter is None:
            return {"name": self.protocol.segmenter}
        return self.segmenter.describe()


def _label_lut(protocol: Protocol) -> torch.Tensor:
    """trainId → protocol class index (everything else → ignore)."""
    lut = torch.full((256,), protocol.ignore_index, dtype=torch.int64)
    lut[list(protocol.class_train_ids)] = torch.arange(protocol.num_classes)
    return lut


class PairedScorer:
    """L1, PSNR, SSIM (and LPIPS where available) of each output against its target."""

    def __init__(self, device: torch.device) -> None:
        from p2pbench.metrics.paired import PairedMetrics

        self.metrics = PairedMetrics(device=device)
        self.device = device

    def update(self, images: torch.Tensor, batch: Batch, indices: list[int]) -> None:
        target = quantize_uint8(batch.target)
        if target.shape != images.shape:
            raise ValueError(
                f"outputs {tuple(images.shape)} and targets {tuple(target.shape)} "
                "differ in shape; paired metrics need them on one grid"
            )
        self.metrics.update(images.to(self.device), target.to(self.device))

    def compute(self) -> dict[str, Any]:
        values = self.metrics.compute()
        psnr = values.get("psnr")
        if isinstance(psnr, float) and math.isinf(psnr):
            values["psnr"] = Unavailable(
                "at least one output equals its target exactly, so its PSNR (and the mean) is "
                "infinite"
            ).as_dict()
        return values

    def describe(self) -> dict[str, Any]:
        return {
            "l1": "mean |output − target| / 255 per image, averaged",
            "psnr": "dB, data_range 255, per image, averaged",
            "ssim": "torchmetrics SSIM, Gaussian 11/1.5, data_range 255, per image",
        }


class GenerativeScorer:
    """FID, IS and KID of the outputs, the reference from the real targets (cached)."""

    def __init__(
        self,
        protocol: Protocol,
        device: torch.device,
        *,
        mode: str,
        weights: str | None,
        reference: str | None,
        n_images: int,
        limit: int | None,
    ) -> None:
        from p2pbench.metrics.generative import GenerativeMetrics
        from p2pbench.metrics.inception import try_build_extractor
        from p2pbench.metrics.reference_stats import (
            StatsKey,
            import_npz,
            load_stats,
            stats_path,
        )

        self.extractor = try_build_extractor(mode, weights, device)
        self.key = None
        ref = None
        self.reference_origin = "none"
        self.reference_path: str | None = reference
        if reference is not None:
            ref = import_npz(reference) if reference.endswith(".npz") else load_stats(reference)
            self.reference_origin = f"file {reference}"
        elif getattr(self.extractor, "weights", None) is not None:
            size = (protocol.image_size, protocol.image_size)
            self.key = StatsKey(
                dataset=protocol.dataset,
                split=protocol.split,
                protocol=f"{protocol.key}:{protocol.digest()}",
                resolution=size,
                mode=mode,
                weights_sha256=self.extractor.weights.sha256,  # type: ignore
                n_images=n_images,
            )
            path = stats_path(self.key)
            self.reference_path = str(path)
            if path.is_file():
                ref = load_stats(path, self.key)
                self.reference_origin = f"cache {path}"
            else:
                self.reference_origin = f"computed in this pass, cached as {path}"
        self.accumulate_real = ref is None
        self.metrics = GenerativeMetrics(self.extractor, ref)
        self.limit = limit

    def update(self, images: torch.Tensor, batch: Batch, indices: list[int]) -> None:
        self.metrics.update(images, indices)
        if self.accumulate_real:
            self.metrics.update_real(quantize_uint8(batch.target), indices)

    def compute(self) -> dict[str, Any]:
        from p2pbench.distributed import rank_and_world
        from p2pbench.metrics.reference_stats import save_stats, stats_path

        values = self.metrics.compute()
        if self.accumulate_real and self.key is not None and self.metrics.available:
            stats = self.metrics.real_stats({"key": self.key.as_dict()})  # on every rank
            if rank_and_world()[0] == 0:
                save_stats(stats, stats_path(self.key), self.key)
        return values

    def describe(self) -> dict[str, Any]:
        return {
            **self.metrics.describe(),
            "reference_origin": self.reference_origin,
            "reference_path": self.reference_path,
        }
