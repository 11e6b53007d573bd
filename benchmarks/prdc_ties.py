"""How often do p2pbench's precision/recall/density/coverage differ from the references' on
heavily duplicated features, where many distances tie exactly?

    python -m benchmarks.prdc_ties --prdc-source /tmp/prdcsrc [--python /tmp/refenv/bin/python]
        [--trials 1200] [--seed 20261207]

Each trial draws real and generated sets (10-60 samples each, 2-8 dims, float32) as rows picked
with replacement from a pool of a few rows whose coordinates take a few values (0, 0.1, 0.3,
0.7), so many samples are exact duplicates and many distances are equal. p2pbench computes them
as `_group_metrics` does (precision/recall: k 3, inclusive; density/coverage: k 5, strict);
the references are torch-fidelity 0.4.0's `prc_features_to_metric` (features_1 = generated)
and the `prdc` package's `compute_prdc(nearest_k=5)` for density/coverage, run in a subprocess
under --python (an environment with scikit-learn; see tests/reference/encoder_goldens/prdc.py)
with the prdc checkout --prdc-source first on sys.path. Writes
benchmarks/results/prdc_ties.json.

Why they differ: neither reference takes exact distances. torch-fidelity's `torch.cdist` (default
compute_mode, metric_prc.py lines 52 and 58-60) runs in the features' float32 and, once a set has
more than 25 rows, expands |x|^2 + |y|^2 - 2x.y, so equal distances come out unequal; its
fractions are float32 means (`.float().mean()`, lines 63 and 65), off by < 1e-7 in most trials.
The prdc package's sklearn `pairwise_distances` (prdc.py line 22) expands the same way (float64,
then rounded to float32 before the sqrt), which leaves some duplicates ~1e-8 apart instead of 0:
a zero radius becomes positive and the strict rule then counts the duplicate inside.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

VALUES = np.array([0.0, 0.1, 0.3, 0.7], dtype=np.float32)
ROUNDOFF = 1e-6  # below: the mean rounded (float32 in torch-fidelity), not a different count
METRICS = {  # metric → (k, tie rule, reference)
    "precision": (3, "inclusive", "torch-fidelity 0.4.0 prc_features_to_metric"),
    "recall": (3, "inclusive", "torch-fidelity 0.4.0 prc_features_to_metric"),
    "density": (5, "strict", "prdc compute_prdc(nearest_k=5)"),
    "coverage": (5, "strict", "prdc compute_prdc(nearest_k=5)"),
}


def trial(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake) float32 rows drawn from a shared pool of a few duplicated rows."""
    dim = int(rng.integers(2, 9))
    pool = VALUES[rng.integers(0, len(VALUES), size=(int(rng.integers(3, 9)), dim))]
    n_real, n_fake = (int(n) for n in rng.integers(10, 61, size=2))
    return pool[rng.integers(0, len(pool), n_real)], pool[rng.integers(0, len(pool), n_fake)]


def references(work: Path) -> None:
    """The subprocess side: the references' four metrics for each trial in work/trials.npz."""
    import torch
    from prdc import compute_prdc  # type: ignore[import-not-found]  # the reference env only
    from torch_fidelity.metric_prc import prc_features_to_metric

    torch.set_num_threads(1)
    out = []
    with np.load(work / "trials.npz") as data:
        for i in range(len(data.files) // 2):
            real, fake = data[f"real{i}"], data[f"fake{i}"]
            prc = prc_features_to_metric(
                torch.from_numpy(fake), torch.from_numpy(real), verbose=False
            )
            with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
                dc = compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
            out.append(
                {
                    "precision": float(prc["precision"]),
                    "recall": float(prc["recall"]),
                    "density": float(dc["density"]),
                    "coverage": float(dc["coverage"]),
                }
            )
    (work / "ref.json").write_text(json.dumps(out))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prdc-source", type=Path, help="checkout of generative-evaluation-prdc")
    parser.add_argument("--python", default="/tmp/refenv/bin/python")
    parser.add_argument("--trials", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        references(args.child)
        return
    if args.prdc_source is None:
        parser.error("--prdc-source is required")

    from benchmarks.common import write_results
    from p2pbench.metrics.prdc import prdc

    rng = np.random.default_rng(args.seed)
    trials = [trial(rng) for _ in range(args.trials)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        arrays: dict[str, Any] = {f"real{i}": t[0] for i, t in enumerate(trials)}
        arrays.update({f"fake{i}": t[1] for i, t in enumerate(trials)})
        np.savez(work / "trials.npz", **arrays)
        env = {**os.environ, "PYTHONPATH": str(args.prdc_source.resolve()), "OMP_NUM_THREADS": "1"}
        cmd = [args.python, str(Path(__file__).resolve()), "--child", str(work)]
        subprocess.run(cmd, env=env, check=True)
        refs = json.loads((work / "ref.json").read_text())

    diffs: dict[str, list[dict[str, object]]] = {m: [] for m in METRICS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small-sample warning, on every trial
        for i, ((real, fake), ref) in enumerate(zip(trials, refs, strict=True)):
            found = {
                (k, ties): prdc(real=real, fake=fake, k=k, ties=ties)
                for k, ties, _ in METRICS.values()
            }
            for metric, (k, ties, _) in METRICS.items():
                ours = getattr(found[(k, ties)], metric)
                if ours != ref[metric]:
                    diffs[metric].append(
                        {"trial": i, "p2pbench": ours, "reference": ref[metric],
                         "n_real": len(real), "n_fake": len(fake), "dim": real.shape[1]}
                    )  # fmt: skip
    rows: list[dict[str, object]] = []
    for metric, (k, ties, reference) in METRICS.items():
        d = diffs[metric]
        gaps = [abs(float(x["p2pbench"]) - float(x["reference"])) for x in d]  # type: ignore[arg-type]
        gap, beyond = max(gaps, default=0.0), sum(g > ROUNDOFF for g in gaps)
        rows.append(
            {
                "metric": metric,
                "k": k,
                "ties": ties,
                "reference": reference,
                "trials": args.trials,
                "seed": args.seed,
                "differing": len(d),
                "rate": len(d) / args.trials,
                "differing_beyond_roundoff": beyond,
                "rate_beyond_roundoff": beyond / args.trials,
                "roundoff": ROUNDOFF,
                "max_abs_difference": gap,
                "cases": d,
            }
        )
        print(
            f"{metric:9s} ({reference}): {len(d)}/{args.trials} differ, {beyond} by more than "
            f"{ROUNDOFF:g}; max |Δ| {gap:.4g}"
        )
    print(write_results("prdc_ties", rows))


if __name__ == "__main__":
    main(sys.argv[1:])
