"""FID, IS and KID of generated images from one Inception forward pass per batch.

What the evaluation loop calls::

    gen = GenerativeMetrics(try_build_extractor(mode, weights, device), reference)
    for each batch:                      # uint8 N×3×H×W, sample indices in the split
        gen.update(fake_images, indices)
        gen.update_real(real_images, indices)   # only without a cached reference
    values = gen.compute()   # {"fid", "is_mean", "is_std", "kid_mean", "kid_std"}
    details = gen.describe() # mode, weights, IS/KID settings used, reference provenance

Without weights the extractor is `Unavailable`; updates then do nothing and every value is
``{"available": false, "reason": ...}``. A reference from a pytorch-fid ``.npz`` (μ, Σ only)
or a statistics file without features gives FID and IS, and KID as unavailable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from p2pbench.metrics.availability import Unavailable
from p2pbench.metrics.encoders.inception import InceptionExtractor
from p2pbench.metrics.fid import FID
from p2pbench.metrics.frechet import GaussianStats
from p2pbench.metrics.inception_score import DEFAULT_SEED, DEFAULT_SPLITS, InceptionScore
from p2pbench.metrics.keys import group_metrics
from p2pbench.metrics.kid import DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS, KID
from p2pbench.metrics.reference_stats import ReferenceStats

KEYS = group_metrics("inception")
Indices = Tensor | Sequence[int]


class GenerativeMetrics:
    """The three Inception metrics sharing one extractor; see the module docstring."""

    def __init__(
        self,
        extractor: InceptionExtractor | Unavailable,
        reference: ReferenceStats | GaussianStats | None = None,
        *,
        is_splits: int = DEFAULT_SPLITS,
        kid_subsets: int = DEFAULT_SUBSETS,
        kid_subset_size: int = DEFAULT_SUBSET_SIZE,
        seed: int = DEFAULT_SEED,
    ) -> None:
        self.extractor = extractor
        self.reference = reference
        gaussian = reference.gaussian() if isinstance(reference, ReferenceStats) else reference
        real_features = reference.features if isinstance(reference, ReferenceStats) else None
        self.kid_unavailable: Unavailable | None = None
        if reference is not None and real_features is None:
            self.kid_unavailable = Unavailable(
                "KID needs the real images' features; the reference statistics hold only "
                "(mean, covariance) (a pytorch-fid .npz, or a statistics file saved without "
                "features): compute the reference from the real images instead"
            )
        self.fid = FID(reference=gaussian)
        self.inception_score = InceptionScore(splits=is_splits, seed=seed)
        self.kid = KID(
            reference=real_features, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
        )
        if isinstance(extractor, InceptionExtractor):
            for m in (self.fid, self.inception_score, self.kid):
                m.to(extractor.device)
        self.details: dict[str, Any] = {}

    @property
    def available(self) -> bool:
        return isinstance(self.extractor, InceptionExtractor)

    def update(self, images: Tensor, indices: Indices) -> None:
        """Generated uint8 N×3×H×W images and their sample indices."""
        if not isinstance(self.extractor, InceptionExtractor):
            return
        f = self.extractor(images)
        self.fid.update(f.pool3)
        self.inception_score.update(f.logits_unbiased, indices)
        if self.kid_unavailable is None:
            self.kid.update(f.pool3, indices)

    def update_real(self, images: Tensor, indices: Indices) -> None:
        """Real uint8 images, when the reference is computed in the same pass."""
        if self.reference is not None:
            raise ValueError("a reference was given; real images are not accumulated")
        if not isinstance(self.extractor, InceptionExtractor):
            return
        f = self.extractor(images)
        self.fid.update(f.pool3, real=True)
        self.kid.update(f.pool3, indices, real=True)

    def compute(self) -> dict[str, Any]:
        """Values by result key; an unavailable one is ``{"available": false, "reason"}``."""
        if not isinstance(self.extractor, InceptionExtractor):
            return {k: self.extractor.as_dict() for k in KEYS}
        scores = self.inception_score.compute()
        out: dict[str, Any] = {
            "fid": self.fid.compute(),
            "is_mean": scores["is_mean"],
            "is_std": scores["is_std"],
        }
        self.details = {k: v for k, v in scores.items() if k not in out}
        self.details["fid_below_full_rank"] = self.fid.below_full_rank
        if self.kid_unavailable is not None:
            out.update({k: self.kid_unavailable.as_dict() for k in ("kid_mean", "kid_std")})
        else:
            kid = self.kid.compute()
            out.update(kid_mean=kid["kid_mean"], kid_std=kid["kid_std"])
            self.details.update({k: v for k, v in kid.items() if k not in out})
        return out

    def real_stats(self, provenance: dict[str, Any] | None = None) -> ReferenceStats:
        """The reference accumulated by `update_real` (all processes), ready to cache."""
        if self.reference is not None:
            raise ValueError("a reference was given; there are no accumulated real statistics")
        n, total, outer = self.fid.sums(real=True)
        return ReferenceStats(
            n,
            total.cpu(),
            outer.cpu(),
            self.kid.features(real=True).cpu(),
            {**self.describe(), **(provenance or {})},
        )

    def describe(self) -> dict[str, Any]:
        """Extractor (mode, weights), the IS/KID settings used, and the reference's origin."""
        if not isinstance(self.extractor, InceptionExtractor):
            return {"available": False, "reason": self.extractor.reason}
        ref: dict[str, Any] = {"kind": "accumulated from real images"}
        if isinstance(self.reference, ReferenceStats):
            ref = {
                "kind": "statistics file",
                "n": self.reference.n,
                "provenance": self.reference.provenance,
            }
        elif isinstance(self.reference, GaussianStats):
            ref = {"kind": "mean and covariance", "n": self.reference.n}
        return {
            **self.extractor.describe(),
            **self.details,
            "reference": ref,
            "seed": self.inception_score.seed,
        }

    def to(self, device: str | torch.device) -> GenerativeMetrics:
        for m in (self.fid, self.inception_score, self.kid):
            m.to(device)
        return self
