"""The metric groups the evaluation loop feeds, each from the same uint8 images per batch.

Every evaluator follows one contract (detectron2's): `reset()`, `process(images, batch,
indices)` for each batch, `evaluate() -> EvaluatorOutput` once at the end (reduced across
processes by the metrics' sum states). The loop knows nothing else about them.

- `FCNEvaluator`: FCN-score (segmenter or nearest colour → confusion matrix), per-image scores.
- `PairedEvaluator`: L1, PSNR, SSIM (LPIPS when its weights are local) against the targets.
- `InceptionEvaluator`: FID, IS, KID from one InceptionV3 pass; the real images' reference
  statistics come from the content-keyed cache or are accumulated in the same pass and cached.
- `FeatureEvaluator` (its own module): FD_DINOv2, CMMD, precision/recall/density/coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from p2pbench.compute import compute_key, compute_path, prepare_module
from p2pbench.data import Batch, PairedDataset, quantize_uint8
from p2pbench.distributed import gather_lists, rank_and_world
from p2pbench.errors import InvalidValueError
from p2pbench.evaluation.datasets import protocol_dataset
from p2pbench.evaluation.evaluator import Evaluator, EvaluatorOutput
from p2pbench.evaluation.feature_evaluator import FeatureEvaluator
from p2pbench.evaluation.label_maps import predict_classes, protocol_labels
from p2pbench.evaluation.segmenters import LoadedSegmenter, load_segmenter
from p2pbench.evaluation.spec import EncoderSpec
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders.inception import try_build_extractor
from p2pbench.metrics.encoders.weights import EncoderWeightsError
from p2pbench.metrics.fcn_score import FCNScore, per_image_scores
from p2pbench.metrics.generative import GenerativeMetrics
from p2pbench.metrics.keys import FEATURE_GROUPS, GROUPS, group_metrics
from p2pbench.metrics.paired import PairedMetrics
from p2pbench.metrics.reference_stats import (
    CacheLookup,
    StatsKey,
    combine_digests,
    image_digest,
    import_npz,
    load_stats,
    lookup_cached,
    stats_path,
    store_cached,
)
from p2pbench.protocols import Protocol


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
        channels_last: bool = False,
    ) -> None:
        self.protocol = protocol
        self.device = device
        self.channels_last = channels_last
        self.segmenter: LoadedSegmenter | None = None
        if protocol.task == "labels2photo":
            self.segmenter = load_segmenter(protocol.segmenter, segmenter_weights, device)
            prepare_module(self.segmenter.module, channels_last)
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
        pred = predict_classes(
            self.segmenter, images, p, tuple(labels.shape[-2:]), channels_last=self.channels_last
        )
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
            raise InvalidValueError(
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
    """FID, IS and KID of the outputs, the reference from the real targets (cached by content).

    With weights and no reference file given, the targets are read and hashed before the pass
    (`dataset` and the scored `ids` when given, else the protocol's split as `protocol_dataset`
    builds it: decoding only, no network); their content digest names the cache entry. During
    the pass every target is hashed again: a batch whose targets are those of a usable entry
    reuses its features, any other goes through Inception. Unless every image came from the
    entry, the statistics are (re)written under the digest of the images actually scored.
    """

    group = "inception"

    def __init__(
        self,
        protocol: Protocol,
        device: torch.device,
        encoder: EncoderSpec,
        n_images: int,
        *,
        dataset: PairedDataset | None = None,
        ids: Sequence[str] | None = None,
        channels_last: bool = False,
    ) -> None:
        self.extractor = try_build_extractor(
            encoder.fid_mode, encoder.inception_weights, device, channels_last=channels_last
        )
        if isinstance(self.extractor, Unavailable) and encoder.inception_weights is not None:
            raise EncoderWeightsError(
                "the InceptionV3 weights given (--inception-weights) cannot be used: "
                f"{self.extractor.reason}"
            )
        self.compute = compute_path(device, channels_last)
        self.key_fields: dict[str, Any] | None = None  # StatsKey less content and n: caching
        self.lookup: CacheLookup | None = None  # the entry of the targets read before the pass
        self.expected: dict[str, tuple[int, str]] = {}  # sample id → (entry row, image digest)
        self.unpredicted: str | None = None  # why the targets could not be read before the pass
        self.reference = None
        self.reference_origin = "none"
        self.reference_path = encoder.reference_stats
        if encoder.reference_stats is not None:
            path = encoder.reference_stats
            self.reference = import_npz(path) if path.endswith(".npz") else load_stats(path)
            self.reference_origin = f"file {path}"
        elif getattr(self.extractor, "weights", None) is not None:
            self.key_fields = {
                "protocol": f"{protocol.key}:{protocol.digest()}",
                "mode": encoder.fid_mode,
                "weights_sha256": self.extractor.weights.sha256,  # type: ignore[union-attr]
                "compute": compute_key(self.compute),
            }
            self._look_up(protocol, n_images, dataset, ids)
        self.reset()

    def _look_up(
        self,
        protocol: Protocol,
        n_images: int,
        dataset: PairedDataset | None,
        ids: Sequence[str] | None,
    ) -> None:
        """Digest the real targets before the pass and find their cache entry."""
        if dataset is None:
            try:
                dataset = protocol_dataset(protocol, None, None)
            except (OSError, ValueError, ImportError) as e:
                self.unpredicted = f"the protocol's images could not be read before the pass: {e}"
                return
        all_ids: tuple[str, ...] = tuple(dataset.sample_ids)  # type: ignore[attr-defined]
        ids = all_ids[:n_images] if ids is None else tuple(ids)
        index_of = {sid: i for i, sid in enumerate(all_ids)}
        unknown = [sid for sid in ids if sid not in index_of][:5]
        if unknown:
            raise InvalidValueError(
                f"expected ids of the dataset's samples, found {unknown} not among them; "
                "pass the ids the loop scores"
            )
        if len(ids) != n_images:
            self.unpredicted = f"{len(ids)} images read before the pass, {n_images} scored"
            return
        digests = [image_digest(quantize_uint8(dataset[index_of[sid]].target)) for sid in ids]
        self.expected = {
            sid: (row, d) for row, (sid, d) in enumerate(zip(ids, digests, strict=True))
        }
        self.lookup = lookup_cached(self._key(digests), need_features=True)

    def _key(self, digests: Sequence[str]) -> StatsKey:
        """The cache key of the real images with these digests (in sample order)."""
        fields = self.key_fields or {}
        return StatsKey(combine_digests(digests), n_images=len(digests), **fields)

    def reset(self) -> None:
        self.metrics = GenerativeMetrics(self.extractor, self.reference)
        self.seen: list[tuple[str, str]] = []  # (sample id, target digest) on this rank
        self.reused = 0  # targets of this rank whose features came from the cache entry

    @property
    def accumulate_real(self) -> bool:
        return self.reference is None

    def process(self, images: torch.Tensor, batch: Batch, indices: Sequence[int]) -> None:
        self.metrics.update(images, indices)
        if not self.accumulate_real:
            return
        real = quantize_uint8(batch.target)
        if self.key_fields is None:
            self.metrics.update_real(real, indices)
            return
        digests = [image_digest(im) for im in real]
        self.seen += zip(batch.sample_ids, digests, strict=True)
        features = self._cached_features(batch.sample_ids, digests)
        if features is None:
            self.metrics.update_real(real, indices)
            return
        features = features.to(self.metrics.fid.device)
        self.metrics.fid.update(features, real=True)
        self.metrics.kid.update(features, indices, real=True)
        self.reused += len(digests)

    def _cached_features(
        self, sample_ids: Sequence[str], digests: Sequence[str]
    ) -> torch.Tensor | None:
        """The entry's features of these targets, if it is usable and holds every one."""
        stats = self.lookup.stats if self.lookup is not None else None
        if stats is None or stats.features is None:
            return None
        rows = []
        for sid, digest in zip(sample_ids, digests, strict=True):
            row, expected = self.expected.get(sid, (-1, ""))
            if digest != expected:
                return None
            rows.append(row)
        return stats.features[rows]

    def _settle_cache(self) -> dict[str, Any]:
        """Hit, or store the statistics of the images scored; the provenance of the entry."""
        seen = gather_lists(self.seen)
        reused = sum(gather_lists([self.reused]))
        key = self._key([d for _, d in seen])
        found = self.lookup
        reason: str | None = None
        reference: dict[str, Any] | None = None
        if (
            found is not None
            and found.key == key
            and found.stats is not None
            and reused == len(seen)
        ):
            status = "hit"
            reference = {
                "kind": "statistics file",
                "n": found.stats.n,
                "provenance": found.stats.provenance,
            }
        else:
            stats = self.metrics.real_stats({"key": key.as_dict()})  # on every rank
            if rank_and_world()[0] == 0:
                store_cached(key, stats)
            status = "miss"
            if found is None:
                reason = self.unpredicted
            elif found.key != key:
                reason = (
                    "the images scored differ from those read before the pass (another split, "
                    f"missing outputs or another data root); {reused} of {len(seen)} reused"
                )
            elif found.stale is not None:
                status, reason = "recomputed", found.stale
        path = str(stats_path(key))
        self.reference_path = path
        self.reference_origin = {
            "hit": f"cache hit {path}",
            "miss": f"computed in this pass, cached as {path}",
            "recomputed": f"computed in this pass (stale cache entry replaced), cached as {path}",
        }[status]
        section: dict[str, Any] = {
            "reference_cache": {
                "status": status,
                "path": path,
                "key_digest": key.digest(),
                "content_sha256": key.content_sha256,
                "reused_images": reused,
                "reason": reason,
            }
        }
        return {**section, "reference": reference} if reference is not None else section

    def evaluate(self) -> EvaluatorOutput:
        values = self.metrics.compute()
        described = {**self.metrics.describe(), "compute": self.compute}
        if self.key_fields is not None and self.metrics.available:
            described.update(self._settle_cache())
        described.update(reference_origin=self.reference_origin, reference_path=self.reference_path)
        return EvaluatorOutput(metrics=values, provenance={"inception": described})


SEGMENTED_TASKS = ("labels2photo", "photo2labels")
"""The tasks whose protocols have label maps to score FCN-score against."""


def applicable_groups(groups: Iterable[str], task: str, *, real_source: bool) -> tuple[str, ...]:
    """The metric groups among `groups` that apply to a protocol's `task` and a source, in
    `GROUPS` order: FCN-score needs label maps, the paired metrics a generated image (the real
    photos equal their targets), Inception and feature metrics photos."""
    asked = set(groups)
    applies = {
        "fcn": task in SEGMENTED_TASKS,
        "paired": not real_source,
        "inception": task != "photo2labels",
        **{g: task != "photo2labels" for g in FEATURE_GROUPS},
    }
    return tuple(g for g in GROUPS if g in asked and applies[g])


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
    dataset: PairedDataset | None = None,
    ids: Sequence[str] | None = None,
    channels_last: bool = False,
) -> list[Evaluator]:
    """The metric groups asked for that apply: FCN-score needs labels (or colour maps), paired
    metrics a generated image (the real photos equal their targets), Inception and feature metrics
    (FD_DINOv2, CMMD, precision/recall/density/coverage) photos.
    `channels_last` runs the segmenter and InceptionV3 in that memory format."""
    applies = applicable_groups(groups, protocol.task, real_source=real_source)
    evaluators: list[Evaluator] = []
    if "fcn" in applies:
        evaluators.append(
            FCNEvaluator(
                protocol,
                device,
                per_image=per_image,
                segmenter_weights=segmenter_weights,
                channels_last=channels_last,
            )
        )
    if "paired" in applies:
        evaluators.append(PairedEvaluator(device))
    if "inception" in applies:
        evaluators.append(
            InceptionEvaluator(
                protocol,
                device,
                encoder,
                n_images,
                dataset=dataset,
                ids=ids,
                channels_last=channels_last,
            )
        )
    if features := [g for g in FEATURE_GROUPS if g in applies]:
        evaluators.append(FeatureEvaluator(features, device, encoder, channels_last=channels_last))
    if not evaluators:
        raise InvalidValueError(
            f"none of the metric groups {sorted(groups)} applies to {protocol.key} "
            f"({protocol.task}{', real images' if real_source else ''})"
        )
    return evaluators
