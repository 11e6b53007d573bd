"""Throughput and memory of each feature encoder (`p2pbench.metrics.encoders`), one fresh
process per encoder: build from a weights file in the official format (random values: speed
and memory do not depend on them), then images/s on 256×256 uint8 images (the evaluation's
size; each encoder resizes them itself) at one batch size after a warm-up batch, and the peak
memory: the process's VmHWM on the CPU, `max_memory_allocated` on CUDA.

    python -m benchmarks.bench_encoders [--device cpu] [--batch-size 8] [--batches 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ENCODERS = ("inception-v3", "dinov2-vitb14", "dinov2-vitl14", "clip-vitl14-336", "vgg16-fc2")

CHILD = r"""
import json, sys, time
import torch
from safetensors.torch import save_file
from p2pbench.metrics.encoders import build_encoder

name, device, work = sys.argv[1], sys.argv[2], sys.argv[5]
batch, batches = int(sys.argv[3]), int(sys.argv[4])


def shapes():
    if name.startswith("dinov2-"):
        from p2pbench.metrics.encoders.dinov2 import hub_shapes
        return hub_shapes(name)
    if name.startswith("clip-"):
        from p2pbench.metrics.encoders.clip import expected_shapes
        return expected_shapes()
    import torchvision
    with torch.device("meta"):
        net = (torchvision.models.vgg16() if name == "vgg16-fc2" else
               torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                               init_weights=False))
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


g = torch.Generator().manual_seed(0)
state = {}
for key, shape in shapes().items():
    if key.endswith("num_batches_tracked"):
        state[key] = torch.zeros(shape, dtype=torch.long)
    elif key.endswith("running_var") or (len(shape) == 1 and "norm" in key and "weight" in key):
        state[key] = torch.ones(shape)
    else:
        state[key] = torch.randn(shape, generator=g) * 0.02
path = f"{work}/weights." + ("safetensors" if name.startswith("clip-") else "pth")
(save_file if path.endswith("safetensors") else torch.save)(state, path)
del state
t = time.perf_counter()
encoder = build_encoder(name, weights=path, device=device, channels_last=True)
built = time.perf_counter() - t
images = torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8, generator=g)
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
encoder(images)  # warm-up
if device.startswith("cuda"):
    torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(batches):
    features = encoder(images)
if device.startswith("cuda"):
    torch.cuda.synchronize()
seconds = (time.perf_counter() - t) / batches
row = {"encoder": name, "mode": encoder.mode, "dim": int(features.shape[1]), "batch": batch,
       "build_s": built, "s_per_batch": seconds, "images_per_s": batch / seconds}
if device.startswith("cuda"):
    row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
with open("/proc/self/status") as f:
    row["peak_rss_mib"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
print(json.dumps(row))
"""


def measure(name: str, device: str, batch: int, batches: int) -> dict[str, object]:
    """One encoder's row, measured in a fresh process."""
    with tempfile.TemporaryDirectory() as work:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, name, device, str(batch), str(batches), work],
            capture_output=True,
            text=True,
            env={**os.environ, "P2PBENCH_HOME": work},
        )
    if out.returncode != 0:
        return {"encoder": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(device: str, batch: int, batches: int, names: tuple[str, ...] = ENCODERS) -> list:
    return [measure(n, device, batch, batches) for n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--only", default=",".join(ENCODERS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    names = tuple(args.only.split(","))
    found = rows(args.device, args.batch_size, args.batches, names)
    for r in found:
        print(json.dumps(r))
    if args.out is not None:
        args.out.write_text(json.dumps(found, indent=1) + "\n")
    return 1 if any("error" in r for r in found) else 0


if __name__ == "__main__":
    sys.exit(main())
