"""FD_DINOv2, CMMD and precision/recall/density/coverage from one pass of each encoder.

`FeatureEvaluator` serves the feature groups an evaluation asks for (`dinov2`, `cmmd`,
`prdc`). Each (encoder, mode) the groups need is built once; groups that name the same one
(`--prdc-encoder dinov2-vitl14` with FD_DINOv2) share it. Every generated image goes through
each encoder exactly once; every real target is looked up in the content-keyed feature cache
(`p2pbench.metrics.feature_cache`) and goes through the encoder only when absent. Features are
kept per sample index (float64), gathered across processes and put in sample order before the
metrics are computed:

- ``fd_dinov2``: the Fréchet distance of the DINOv2 features (float64 means and covariances,
  `p2pbench.metrics.frechet`, the code behind FID).
- ``cmmd``: `p2pbench.metrics.cmmd` (σ = 10, × 1000, biased estimator), every sample counted.
- ``precision``/``recall``: k = 3 with the inclusive tie rule (Kynkäänniemi et al., as
  torch-fidelity computes them); ``density``/``coverage``: k = 5, strict (Naeem et al., the
  `prdc` package).

Missing weights or packages make the group's metrics unavailable, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from p2pbench.compute import compute_path
from p2pbench.data import Batch, quantize_uint8
from p2pbench.distributed import gather_lists, rank_and_world
from p2pbench.evaluation.evaluator import EvaluatorOutput
from p2pbench.evaluation.spec import EncoderSpec
from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.cmmd import CMMD_SCALE, CMMD_SIGMA, cmmd
from p2pbench.metrics.encoders import FeatureEncoder, try_build_encoder
from p2pbench.metrics.encoders.weights import EncoderWeightsError
from p2pbench.metrics.feature_cache import FeatureCache
from p2pbench.metrics.frechet import frechet_distance, stats_from_features
from p2pbench.metrics.keys import group_metrics
from p2pbench.metrics.prdc import DC_K, PR_K, SMALL_SAMPLE, prdc
from p2pbench.metrics.reference_stats import image_digest

EncoderId = tuple[str, str]  # (encoder name, mode)


class FeatureEvaluator:
    """The feature groups of one evaluation (see the module docstring)."""

    group = "features"

    def __init__(
        self,
        groups: Sequence[str],
        device: torch.device,
        encoder: EncoderSpec,
        *,
        channels_last: bool = False,
    ) -> None:
        self.needs: dict[str, EncoderId] = encoder.feature_encoders(tuple(groups))
        self.cmmd_precision = encoder.cmmd_precision
        self.encoders: dict[EncoderId, FeatureEncoder | Unavailable] = {}
        for name, mode in dict.fromkeys(self.needs.values()):
            given = encoder.weights_for(name)
            built = try_build_encoder(name, mode, given, device, channels_last=channels_last)
            if isinstance(built, Unavailable) and given is not None:
                raise EncoderWeightsError(
                    f"the weights given for {name} (--encoder-weights) cannot be used: "
                    f"{built.reason}"
                )
            self.encoders[(name, mode)] = built
        self._agree_on_availability()
        self.compute = compute_path(device, channels_last)
        self.caches = {
            eid: FeatureCache(self._described(enc))
            for eid, enc in self.encoders.items()
            if not isinstance(enc, Unavailable)
        }
        self.reset()

    def _described(self, encoder: FeatureEncoder) -> dict[str, Any]:
        """The encoder's provenance and the compute path of its features (both key the cache)."""
        return {**encoder.describe(), "compute": self.compute}

    def _agree_on_availability(self) -> None:
        """An encoder missing on any process (weights on one node only) is unavailable on
        every process, so that all of them reach the same collectives."""
        reasons = {eid: e.reason for eid, e in self.encoders.items() if isinstance(e, Unavailable)}
        for rank, theirs in enumerate(gather_lists([reasons])):
            for eid, reason in theirs.items():
                if not isinstance(self.encoders[eid], Unavailable):
                    self.encoders[eid] = Unavailable(f"unavailable on process {rank}: {reason}")

    def reset(self) -> None:
        self.fake: dict[EncoderId, list[tuple[int, Tensor]]] = {e: [] for e in self.caches}
        self.real: dict[EncoderId, list[tuple[int, Tensor]]] = {e: [] for e in self.caches}

    def process(self, images: Tensor, batch: Batch, indices: Sequence[int]) -> None:
        real = quantize_uint8(batch.target)
        digests = [image_digest(im) for im in real]
        for eid, cache in self.caches.items():
            encode: FeatureEncoder = self.encoders[eid]  # type: ignore[assignment]
            fake = encode(images).cpu()
            rows = [f.clone() for f in fake]  # own storage: a view would pickle the batch
            self.fake[eid] += zip(indices, rows, strict=True)
            cached = cache.get_many(digests)
            todo = [i for i, c in enumerate(cached) if c is None]
            if todo:
                fresh = encode(real[todo]).cpu()
                for i, f in zip(todo, [f.clone() for f in fresh], strict=True):
                    cache.put(digests[i], f)
                    cached[i] = f
            self.real[eid] += zip(indices, cached, strict=True)  # type: ignore[arg-type]

    def _ordered(self, pairs: list[tuple[int, Tensor]]) -> Tensor:
        gathered = gather_lists(pairs)
        gathered.sort(key=lambda p: p[0])
        return torch.stack([f for _, f in gathered]).to(torch.float64)

    def evaluate(self) -> EvaluatorOutput:
        metrics: dict[str, Any] = {}
        sections: dict[str, Any] = {}
        features = {
            eid: (self._ordered(self.real[eid]), self._ordered(self.fake[eid]))
            for eid in self.caches
        }
        for group, eid in self.needs.items():
            enc = self.encoders[eid]
            if isinstance(enc, Unavailable):
                metrics.update({k: enc.as_dict() for k in group_metrics(group)})
                sections[group] = {"encoder": eid[0], "mode": eid[1], "available": False}
                continue
            real, fake = features[eid]
            metrics.update(_group_metrics(group, real, fake, self.cmmd_precision))
            sections[group] = {
                **self._described(enc),
                **_settings(group, self.cmmd_precision),
                "n_real": int(real.shape[0]),
                "n_fake": int(fake.shape[0]),
                **(
                    {"small_sample": min(real.shape[0], fake.shape[0]) < SMALL_SAMPLE}
                    if group == "prdc"
                    else {}
                ),
                **(
                    {"below_full_rank": min(real.shape[0], fake.shape[0]) <= real.shape[1]}
                    if group == "dinov2"
                    else {}
                ),
                "feature_cache": self._cache_counts(eid),
            }
        return EvaluatorOutput(metrics=metrics, provenance={"features": sections})

    def _cache_counts(self, eid: EncoderId) -> dict[str, Any]:
        cache = self.caches[eid]
        counts = gather_lists([(cache.hits, cache.stored, cache.replaced)])
        return {
            "folder": str(cache.folder),
            "hits": sum(c[0] for c in counts),
            "computed": sum(c[1] for c in counts),
            "replaced": sum(c[2] for c in counts),
            "ranks": rank_and_world()[1],
        }


def _group_metrics(group: str, real: Tensor, fake: Tensor, cmmd_precision: str) -> dict[str, Any]:
    """The group's metrics; those the sample is too small for are unavailable, with why."""
    n = min(real.shape[0], fake.shape[0])
    if group == "dinov2":
        if n < 2:
            return {"fd_dinov2": _too_few(n, 2, "a covariance")}
        fd = frechet_distance(
            stats_from_features(real), stats_from_features(fake), name="FD_DINOv2"
        )
        return {"fd_dinov2": fd}
    if group == "cmmd":
        return {"cmmd": cmmd(real=real, fake=fake, precision=cmmd_precision)}
    out: dict[str, Any] = {}
    for k, ties, keys in (
        (PR_K, "inclusive", ("precision", "recall")),
        (DC_K, "strict", ("density", "coverage")),
    ):
        if n <= k:
            out.update({key: _too_few(n, k + 1, f"a {k}-th nearest neighbour") for key in keys})
            continue
        found = prdc(real=real, fake=fake, k=k, ties=ties)
        out.update({key: getattr(found, key) for key in keys})
    return out


def _too_few(n: int, need: int, what: str) -> dict[str, Any]:
    return Unavailable(
        f"{n} images per set cannot give {what}: score at least {need} (more than 1,000 for "
        "numbers worth comparing)"
    ).as_dict()


def _settings(group: str, cmmd_precision: str) -> dict[str, Any]:
    if group == "cmmd":
        return {
            "sigma": CMMD_SIGMA,
            "scale": CMMD_SCALE,
            "estimator": "biased (V-statistic)",
            "precision": cmmd_precision,
            **(
                {"precision_as": "google-research/cmmd and cmmd-pytorch (float32)"}
                if cmmd_precision == "float32"
                else {}
            ),
        }
    if group == "prdc":
        return {
            "precision_recall": {"k": PR_K, "ties": "inclusive", "as": "torch-fidelity 0.4"},
            "density_coverage": {"k": DC_K, "ties": "strict", "as": "prdc (Naeem et al.)"},
        }
    return {"statistics": "float64 mean and covariance (ddof=1)"}
