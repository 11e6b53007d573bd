"""Peak memory and time of `evaluate` for 100 vs 1,000 images: nothing grows with the dataset
but the few kilobytes per image that IS and KID must keep (2048 float64 features each).

    python -m benchmarks.bench_eval_memory [--sizes 100 1000]

Each size runs in a fresh subprocess (peak RSS from getrusage) on an aligned folder of synthcity
pairs at 64×64, a 4-filter U-Net, paired metrics and FID/IS/KID with a random-weight
InceptionV3 (memory and speed do not depend on its values). Writes
benchmarks/results/eval-memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_results

CHILD = """
import json, resource, sys, time
import torch
from p2pbench.evaluation import EncoderSpec, GeneratorFile, RunSpec, ScoreSpec, evaluate
from p2pbench.protocols import aligned_protocol
folder, ckpt, weights = sys.argv[1:4]
t = time.perf_counter()
r = evaluate(GeneratorFile(ckpt), protocol=aligned_protocol(folder, direction="BtoA"),
             score=ScoreSpec(metrics=("paired", "inception")),
             run=RunSpec(batch_size=16, progress=False),
             encoder=EncoderSpec(inception_weights=weights))
print(json.dumps({"seconds": time.perf_counter() - t, "n_images": r.n_images,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_inputs(work: Path) -> tuple[Path, Path]:
    """A random-weight InceptionV3 file and a 4-filter unet64 checkpoint in `work`."""
    import torch
    import torchvision

    from reference_models import GeneratorConfig, build_generator, save_generator

    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=False
    )
    inception = work / "random-inception.pth"
    torch.save(net.state_dict(), inception)
    generator = work / "g.pt"
    save_generator(generator, build_generator("unet64", ngf=4), "unet64", GeneratorConfig(ngf=4))
    return inception, generator


def write_folder(work: Path, n: int) -> Path:
    """An aligned folder of `n` synthcity val pairs at 64×64."""
    from p2pbench.data import write_synthcity

    folder = work / f"synth{n}"
    write_synthcity(folder, size=64, n_train=1, n_val=n, seed=0)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inception, generator = write_inputs(work)
        for n in args.sizes:
            folder = write_folder(work, n)
            env_home = {"P2PBENCH_HOME": str(work / f"home{n}")}
            t = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(folder),
                    str(generator),
                    str(inception),
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **env_home},
            )
            row = {
                "images": n,
                **json.loads(out.stdout.strip().splitlines()[-1]),
                "wall_seconds_with_start": time.perf_counter() - t,
            }
            rows.append(row)
            print(row)
    print(f"wrote {write_results('eval-memory', rows)}")


if __name__ == "__main__":
    main()
