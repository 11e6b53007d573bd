"""Does `--precision bf16` train what fp32 trains? Three seeds of each, compared with the spread
of the seeds.

    python -m benchmarks.precision_agreement [--steps 300] [--seeds 0 1 2] [--out runs/precision]

Trains the synthcity ladder's model (U-Net + 70×70 PatchGAN, L1 + cGAN, width 32, at the
protocol's size) for --steps steps per seed and precision, then compares, per precision, the
mean generator L1 over the last 50 steps (from the training log) and the class IoU of the
trained generator under the protocol. bf16 agrees when each difference of means lies within
the range of the fp32 seeds. Writes benchmarks/results/precision-agreement.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.common import write_results
from p2pbench.evaluation import GeneratorFile, RunSpec, evaluate
from p2pbench.protocols import get_protocol
from p2pbench.train import TrainConfig, train

LAST = 50  # steps whose logged L1 is averaged


def _last_l1(run: Path) -> float:
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]
    tail = [x["l1"] for x in lines][-LAST:]
    return statistics.mean(tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/precision")
    parser.add_argument("--width", type=int, default=32, help="ngf = ndf")
    parser.add_argument("--protocol", default="synthcity")
    args = parser.parse_args()
    protocol = get_protocol(args.protocol)
    size = protocol.image_size
    runs: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
    for precision in runs:
        for seed in args.seeds:
            config = TrainConfig(
                data=f"synthcity@v{protocol.dataset_version}",
                size=size,
                generator=f"unet{size}",
                discriminator="patch70",
                max_steps=args.steps,
                ngf=args.width,
                ndf=args.width,
                seed=seed,
                precision=precision,
                checkpoint_every=args.steps,
                sample_every=args.steps,
                log_every=1,
            )
            run = Path(args.out) / f"{precision}-seed{seed}"
            if not (run / "checkpoint.pt").exists():
                train(config, run, progress=False)
            result = evaluate(
                GeneratorFile(str(run / "checkpoint.pt")),
                protocol=protocol,
                run=RunSpec(seed=seed, progress=False),
            )
            row = {"l1_last50": _last_l1(run), "class_iou": float(result.metrics["class_iou"])}
            runs[precision].append(row)
            print(precision, seed, row, flush=True)
    rows: list[dict[str, object]] = []
    for metric in ("l1_last50", "class_iou"):
        fp32 = [r[metric] for r in runs["fp32"]]
        bf16 = [r[metric] for r in runs["bf16"]]
        diff = statistics.mean(bf16) - statistics.mean(fp32)
        spread = max(fp32) - min(fp32)
        rows.append(
            {
                "metric": metric,
                "fp32": fp32,
                "bf16": bf16,
                "fp32_mean": statistics.mean(fp32),
                "bf16_mean": statistics.mean(bf16),
                "fp32_std": statistics.stdev(fp32) if len(fp32) > 1 else None,
                "bf16_std": statistics.stdev(bf16) if len(bf16) > 1 else None,
                "difference_of_means": diff,
                "fp32_seed_range": spread,
                "agrees": abs(diff) <= spread,
                "steps": args.steps,
                "protocol": protocol.key,
            }
        )
        print(rows[-1], flush=True)
    write_results("precision-agreement", rows)


if __name__ == "__main__":
    main()
