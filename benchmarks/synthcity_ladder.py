"""Does FCN-score order what it should? real photos > a briefly trained generator > untrained.

    python -m benchmarks.synthcity_ladder [--steps 300] [--seeds 0 1 2] [--out runs/ladder]
                                          [--protocol synthcity]

Trains one U-Net + 70×70 PatchGAN (L1 + cGAN, the paper's settings; --width filters, 32 by
default to fit a 2-core CPU) per seed on synthcity at the protocol's size (synthcity@v2: 128 px),
evaluates the untrained and trained generators of each seed and the real photos on the
protocol, writes every result JSON under --out and a summary to
benchmarks/results/synthcity-ladder.json. Each gap should exceed the spread over seeds; the
summary gives the real − trained gap of each metric in seed standard deviations of the trained.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.common import write_results
from p2pbench.evaluation import GeneratorFile, RealImages, RunSpec, evaluate
from p2pbench.protocols import get_protocol
from p2pbench.train import TrainConfig, train
from reference_models import GeneratorConfig, build_generator, save_generator

METRICS = ("per_pixel_acc", "per_class_acc", "class_iou")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/ladder")
    parser.add_argument("--width", type=int, default=32, help="ngf = ndf")
    parser.add_argument("--protocol", default="synthcity")
    args = parser.parse_args()
    out = Path(args.out)
    protocol = get_protocol(args.protocol)
    size = protocol.image_size
    generator = f"unet{size}"
    rows: dict[str, list[dict]] = {"real": [], "trained": [], "untrained": []}
    for seed in args.seeds:
        config = TrainConfig(
            data=f"synthcity@v{protocol.dataset_version}",
            size=size,
            generator=generator,
            discriminator="patch70",
            max_steps=args.steps,
            ngf=args.width,
            ndf=args.width,
            seed=seed,
            checkpoint_every=args.steps,
            sample_every=args.steps,
            log_every=50,
        )
        untrained = out / f"untrained-{seed}.pt"
        save_generator(
            untrained,
            build_generator(generator, seed=seed, ngf=args.width),
            generator,
            GeneratorConfig(ngf=args.width),
        )
        run = out / f"run-{seed}"
        checkpoint = run / "checkpoint.pt"
        if not checkpoint.exists():
            train(config, run, progress=False)
        for label, source in (
            ("untrained", GeneratorFile(str(untrained))),
            ("trained", GeneratorFile(str(checkpoint))),
            ("real", RealImages()),
        ):
            result = evaluate(source, protocol=protocol, run=RunSpec(seed=seed, progress=False))
            result.write(out / f"{label}.seed{seed}.json")
            rows[label].append({k: result.metrics[k] for k in METRICS})
            print(label, seed, {k: round(result.metrics[k], 4) for k in METRICS})
    summary = []
    for label, runs in rows.items():
        entry: dict[str, object] = {
            "row": label,
            "n": len(runs),
            "steps": args.steps,
            "protocol": protocol.key,
        }
        for k in METRICS:
            values = [r[k] for r in runs]
            entry[k] = statistics.mean(values)
            entry[f"{k}_std"] = statistics.pstdev(values)
            entry[f"{k}_range"] = max(values) - min(values)
        summary.append(entry)
        print(entry)
    gaps: dict[str, object] = {"row": "real - trained, in seed std of trained"}
    for k in METRICS:
        trained = [r[k] for r in rows["trained"]]
        gap = statistics.mean(r[k] for r in rows["real"]) - statistics.mean(trained)
        spread = statistics.stdev(trained) if len(trained) > 1 else float("nan")
        gaps[k] = gap / spread if spread > 0 else float("inf")
    summary.append(gaps)
    print(gaps)
    write_results("synthcity-ladder", summary)


if __name__ == "__main__":
    main()
