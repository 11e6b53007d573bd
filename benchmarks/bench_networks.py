"""Forward and forward+backward images/s of the reference networks at 256×256.

    python benchmarks/bench_networks.py [--device cpu|cuda] [--batch-size 1]

Writes benchmarks/results/networks-<device>.json and prints a table.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import time_per_call, write_results
from reference_models import build_discriminator, build_generator

NETWORKS = [
    ("generator", "unet256", {}),
    ("generator", "resnet9", {}),
    ("discriminator", "patch70", {"in_channels": 6}),
    ("discriminator", "patch286", {"in_channels": 6}),
]


def measure(device: str, batch_size: int, size: int = 256) -> list[dict[str, object]]:
    rows = []
    for kind, name, options in NETWORKS:
        build = build_generator if kind == "generator" else build_discriminator
        net = build(name, **options).to(device).train()
        channels = 3 if kind == "generator" else options["in_channels"]
        x = torch.rand(batch_size, channels, size, size, device=device)

        def forward(net: torch.nn.Module = net, x: torch.Tensor = x) -> None:
            with torch.no_grad():
                net(x)
            _sync(device)

        def forward_backward(net: torch.nn.Module = net, x: torch.Tensor = x) -> None:
            net.zero_grad(set_to_none=True)
            net(x).mean().backward()
            _sync(device)

        for mode, fn in (("forward", forward), ("forward+backward", forward_backward)):
            seconds = time_per_call(fn)
            rows.append(
                {
                    "network": name,
                    "mode": mode,
                    "batch_size": batch_size,
                    "size": size,
                    "seconds_per_batch": seconds,
                    "images_per_s": batch_size / seconds,
                }
            )
            print(f"{name:<9} {mode:<17} batch {batch_size}: {batch_size / seconds:8.2f} images/s")
    return rows


def measure_training(device: str, size: int = 256) -> list[dict[str, object]]:
    """One full pix2pix step (D step + G step, L1 + cGAN) at batch 1: the paper's setting."""
    from p2pbench.data import Batch
    from p2pbench.train import TrainConfig, build_models, train_step

    config = TrainConfig(generator="unet256", discriminator="patch70", device=device)
    models = build_models(config)
    batch = Batch(
        torch.rand(1, 3, size, size) * 2 - 1, torch.rand(1, 3, size, size) * 2 - 1, None, ("bench",)
    )

    def step() -> None:
        train_step(config, models, batch)
        _sync(device)

    seconds = time_per_call(step)
    print(f"train step unet256+patch70 batch 1: {1 / seconds:8.2f} images/s")
    return [
        {
            "network": "unet256+patch70",
            "mode": "train step (D+G)",
            "batch_size": 1,
            "size": size,
            "seconds_per_batch": seconds,
            "images_per_s": 1 / seconds,
        }
    ]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    rows = measure(args.device, args.batch_size) + measure_training(args.device)
    path = write_results(f"networks-{args.device.split(':')[0]}", rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
