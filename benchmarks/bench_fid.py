"""Fréchet distance at 2048 dimensions (ours vs scipy.linalg.sqrtm) and Inception images/s.

    python -m benchmarks.bench_fid [--device cpu|cuda] [--batch-size 16] [--skip-sqrtm]

Fréchet: covariances of seeded synthetic features, full rank (n = 5000) and rank-deficient
(n = 500 < 2048); `ours` is `p2pbench.metrics.frechet.frechet_distance_arrays` (pivoted Cholesky
+ symmetric eigenvalues), `scipy-sqrtm` is pytorch-fid's / TTUR's formula
(`scipy.linalg.sqrtm(Σ₁Σ₂)`), `torch-fidelity` is its eigenvalues of the non-symmetric Σ₁Σ₂.
Each row also gives the relative difference from ours.
Inception: the FID InceptionV3 with random weights (speed does not depend on them), 256×256 uint8
inputs, one row per preprocessing mode; images/s of the whole extractor call.
Writes benchmarks/results/fid-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
import torchvision

from benchmarks.common import time_per_call, write_results
from p2pbench.metrics.encoders.inception import PREPROCESSING, InceptionExtractor
from p2pbench.metrics.encoders.weights import LoadedWeights
from p2pbench.metrics.frechet import frechet_distance_arrays

DIMS = 2048


def _covariances(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    stats = []
    for shift in (0.0, 0.1):
        scales = np.exp(rng.normal(size=DIMS) * 0.5)
        x = rng.normal(size=(n, 64)) @ rng.normal(size=(64, DIMS)) * 0.2
        x += rng.normal(size=(n, DIMS)) * scales + 1 + shift
        stats += [x.mean(0), np.cov(x, rowvar=False)]
    return stats[0], stats[1], stats[2], stats[3]


def _sqrtm_fid(mu1, s1, mu2, s2) -> float:
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _eigvals_fid(mu1, s1, mu2, s2) -> float:
    diff = mu1 - mu2
    tr = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).astype("complex128")).real)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr)


def measure_frechet(skip_sqrtm: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    routes = [("ours", frechet_distance_arrays), ("torch-fidelity", _eigvals_fid)]
    if not skip_sqrtm:
        routes.append(("scipy-sqrtm", _sqrtm_fid))
    for n in (5000, 500):
        args = _covariances(n, seed=n)
        reference = frechet_distance_arrays(*args)
        for name, fn in routes:
            seconds = time_per_call(
                lambda fn=fn, a=args: fn(*a), warmup=0, min_seconds=0, min_calls=3
            )
            value = fn(*args)
            rows.append(
                {
                    "benchmark": "frechet",
                    "route": name,
                    "dims": DIMS,
                    "n": n,
                    "seconds": seconds,
                    "fid": value,
                    "relative_difference_from_ours": abs(value - reference) / reference,
                }
            )
            print(
                f"frechet {name:15s} n={n:5d}: {seconds:7.2f} s  FID {value:.10g}", file=sys.stderr
            )
    return rows


def _random_extractor(mode: str, device: str) -> InceptionExtractor:
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    weights = LoadedWeights(Path("random"), "random", "benchmark", False, net.state_dict())
    return InceptionExtractor(weights, mode, device)


def measure_inception(device: str, batch_size: int, size: int = 256) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    x = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8)
    for mode in PREPROCESSING.names():
        ex = _random_extractor(mode, device)

        def call(ex: InceptionExtractor = ex) -> None:
            ex(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        seconds = time_per_call(call, warmup=1, min_seconds=5.0, min_calls=3)
        rows.append(
            {
                "benchmark": "inception",
                "mode": mode,
                "height": size,
                "width": size,
                "batch_size": batch_size,
                "seconds_per_batch": seconds,
                "images_per_s": batch_size / seconds,
            }
        )
        print(
            f"inception {mode:12s} {size}×{size} batch {batch_size}: "
            f"{batch_size / seconds:7.2f} images/s",
            file=sys.stderr,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip-sqrtm", action="store_true", help="skip the slow sqrtm route")
    args = parser.parse_args()
    rows = measure_frechet(args.skip_sqrtm) + measure_inception(args.device, args.batch_size)
    path = write_results(f"fid-{args.device.split(':')[0]}", rows)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
