"""One benchmark run: every figure measured in the same process, beside this machine's own limit.

    python -m benchmarks.run [--quick] [--device cpu|cuda] [--batch-sizes 1,8]
                             [--only SECTION[,SECTION]] [--out DIR] [--compile]

Writes <out>/run-<device>.json (one list of rows per section) and <out>/run-<device>.md (one
table per section; also printed). Default out: benchmarks/results. Sections:

- peak: the machine's limit: best of several runs of channels-last `conv2d` at the networks'
  layer shapes (U-Net 256's 4×4 stride-2 convs, FCN-8s's 3×3 convs) and a 2048² matmul, in fp32
  and bf16 (where the device runs it); the peak is the most GFLOP/s of any shape.
- train: unet256 + patch70 training images/s at 256² for the `reference` loop (the PyTorch
  port's: fp32, NCHW, eager, plain Adam), p2pbench's `default` `train_step` and its `bf16`
  precision; FLOPs per step counted by FlopCounterMode, GFLOP/s and % of peak. Samples are
  jittered synthcity samples loaded once, collated in the main process each step (the loading
  itself is the data section); with --compile (default on CUDA) also torch.compile'd steps.
  Also a torch.profiler top-8 of the default fp32 batch-1 step and, except with --quick,
  forward+backward of each U-Net conv alone.
- inference: unet256 forward and FCN-8s (random weights) at 256² and 1024×2048, each as the
  exact path (fp32, NCHW, no_grad) and the default path (channels-last, inference_mode); and
  p2pbench's InceptionV3 extractor vs torch-fidelity's on the same uint8 images and the same
  (random, batch-norm-calibrated) weights: speed ratio and the largest feature difference.
- agreement: how far the default path (channels-last), bf16 autocast and, on CUDA, TF32 move
  the metric networks from the exact fp32 NCHW path: FCN argmax pixels kept (the shipped
  fcn8s-synthcity128 on synthcity@v2 val photos; the bound is 99.99 %) and the largest
  InceptionV3 feature difference (random weights); on CUDA also CPU vs CUDA.
- data: loading images/s alone through a DataLoader (0, 1, 2 workers): jittered synthcity at
  256, and 2048×1024 PNG pairs in the Cityscapes layout resized to 256, decoded and from a
  filled `--decode-cache`; ratio to the fastest training path's images/s (the target is ≥ 3×).
- memory: peak RSS of `evaluate` for 100 vs 1,000 images (benchmarks.bench_eval_memory's
  child process), read as the child's VmHWM: its `ru_maxrss` starts at this process's peak.
- frechet: our Fréchet distance vs scipy's sqrtm formula and torch-fidelity's at 2048 dims
  (benchmarks.bench_fid): relative difference and seconds.
- encoders: each feature encoder (InceptionV3, DINOv2 ViT-B/14 and ViT-L/14, CLIP ViT-L/14-336,
  VGG16) built in a fresh process: images/s at batch 8 and peak memory (benchmarks.bench_encoders).

Train and inference rows need the peak: the peak section runs whenever they do. --quick trims
every section (≤ 3 minutes on a 2-core CPU; the whole run ≤ 15 minutes). Threads: all cores
unless OMP_NUM_THREADS is set. On CUDA every timed call ends with a synchronisation,
cudnn.benchmark is on, batch sizes default to 1, 8, 32 (the peak uses the largest), and fp32
convolutions follow PyTorch's TF32 default (recorded in the environment). A section that fails
leaves an error row; the others still run and the exit status is 1.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from benchmarks.common import (
    RESULTS,
    best_per_call,
    count_flops,
    environment,
    synchronize,
    time_per_call,
)
from p2pbench.base import atomic_write_text

Row = dict[str, object]
SECTIONS: tuple[str, ...] = (
    "peak",
    "train",
    "inference",
    "agreement",
    "data",
    "memory",
    "frechet",
    "encoders",
)
NEEDS_PEAK: tuple[str, ...] = ("train", "inference")
SIZE = 256  # the training and inference image size


@dataclass(frozen=True)
class ConvShape:
    """One convolution measured for the peak: `in_ch`→`out_ch`, k×k, at an H×W input."""

    name: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    padding: int
    height: int
    width: int


def _unet_down(c_in: int, c_out: int, size: int) -> ConvShape:
    return ConvShape(f"unet256 {c_in}→{c_out} 4×4/2 @{size}", c_in, c_out, 4, 2, 1, size, size)


def _fcn_conv(c: int, h: int, w: int) -> ConvShape:
    return ConvShape(f"fcn8s {c}→{c} 3×3 @{h}×{w}", c, c, 3, 1, 1, h, w)


PEAK_SHAPES: list[ConvShape] = [
    _unet_down(3, 64, 256),
    _unet_down(64, 128, 128),
    _unet_down(128, 256, 64),
    _unet_down(256, 512, 32),
    _unet_down(512, 512, 16),
    _fcn_conv(64, 512, 1024),
    _fcn_conv(256, 128, 256),
    _fcn_conv(512, 64, 128),
]
QUICK_PEAK_SHAPES: list[ConvShape] = [
    *PEAK_SHAPES[:5],
    _fcn_conv(64, 128, 256),
    _fcn_conv(256, 64, 128),
]
MATMUL_SIZE = 2048
PEAK_CALLS = 5


@dataclass(frozen=True)
class Options:
    device: str
    quick: bool
    batch_sizes: tuple[int, ...]
    sections: tuple[str, ...]
    out: Path
    compile: bool = False  # also time torch.compile'd training steps


@dataclass
class Context:
    """The options, the measured peaks (GFLOP/s by precision) and the rows so far."""

    options: Options
    peaks: dict[str, float | None] = field(default_factory=lambda: {"fp32": None, "bf16": None})
    results: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return self.options.device

    @property
    def quick(self) -> bool:
        return self.options.quick


def gflops(flops: float, seconds: float) -> float:
    return flops / seconds / 1e9


def percent_of(value: float, peak: float | None) -> float | None:
    return None if not peak else 100.0 * value / peak


def _throughput(ctx: Context, flops: int, seconds: float, precision: str = "fp32") -> Row:
    rate = gflops(flops, seconds)
    return {
        "gflop": flops / 1e9,
        "gflops": rate,
        "percent_of_peak": percent_of(rate, ctx.peaks.get(precision)),
    }


def _timed(ctx: Context, fn: Callable[[], object]) -> Callable[[], None]:
    """`fn` followed by a device synchronisation, so that a timer sees the work done."""

    def call() -> None:
        fn()
        synchronize(ctx.device)

    return call


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- peak -------------------------------------------------------------------------------------


def _peak_batch(ctx: Context) -> int:
    """Batch 1 saturates a CPU at these shapes; a GPU needs the largest batch asked for."""
    return max(ctx.options.batch_sizes) if ctx.device.startswith("cuda") else 1


def _conv_row(ctx: Context, shape: ConvShape, dtype: torch.dtype, batch: int) -> Row:
    cl = torch.channels_last
    x = torch.randn(batch, shape.in_ch, shape.height, shape.width, device=ctx.device, dtype=dtype)
    w = torch.randn(
        shape.out_ch, shape.in_ch, shape.kernel, shape.kernel, device=ctx.device, dtype=dtype
    )
    x, w = x.contiguous(memory_format=cl), w.contiguous(memory_format=cl)
    call = _timed(ctx, lambda: F.conv2d(x, w, stride=shape.stride, padding=shape.padding))
    with torch.no_grad():
        flops = count_flops(call)
        seconds = best_per_call(call, warmup=1, calls=3 if ctx.quick else PEAK_CALLS)
    return {"op": "conv2d", "shape": shape.name, "batch": batch, "seconds": seconds} | {
        "gflop": flops / 1e9,
        "gflops": gflops(flops, seconds),
    }


def _matmul_row(ctx: Context, dtype: torch.dtype) -> Row:
    n = MATMUL_SIZE
    a = torch.randn(n, n, device=ctx.device, dtype=dtype)
    b = torch.randn(n, n, device=ctx.device, dtype=dtype)
    call = _timed(ctx, lambda: a @ b)
    flops = count_flops(call)
    seconds = best_per_call(call, warmup=1, calls=3 if ctx.quick else PEAK_CALLS)
    return {"op": "matmul", "shape": f"{n}×{n} @ {n}×{n}", "batch": 1, "seconds": seconds} | {
        "gflop": flops / 1e9,
        "gflops": gflops(flops, seconds),
    }


def peak_section(ctx: Context) -> list[Row]:
    """Channels-last conv2d at the networks' shapes and a large matmul, fp32 and bf16."""
    shapes = QUICK_PEAK_SHAPES if ctx.quick else PEAK_SHAPES
    batch = _peak_batch(ctx)
    rows: list[Row] = []
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        if precision == "bf16" and ctx.device.startswith("cuda"):
            if not torch.cuda.is_bf16_supported():
                rows.append({"table": "peak", "precision": precision, "error": "no bf16 on GPU"})
                continue
        measured: list[Row] = []
        try:
            for shape in shapes:
                measured.append(_conv_row(ctx, shape, dtype, batch))
            measured.append(_matmul_row(ctx, dtype))
        except RuntimeError as e:  # bf16 kernels this device lacks
            rows.append({"table": "peak", "precision": precision, "error": str(e)[:200]})
            continue
        best = max(float(r["gflops"]) for r in measured)  # type: ignore[arg-type]
        ctx.peaks[precision] = best
        for r in measured:
            rate = float(r["gflops"])  # type: ignore[arg-type]
            rows.append(
                {"table": "peak", "precision": precision, **r}
                | {"percent_of_peak": percent_of(rate, best), "is_peak": rate == best}
            )
        _log(f"peak {precision}: {best:.1f} GFLOP/s")
    return rows


# --- train ------------------------------------------------------------------------------------


def _training_samples(n: int = 16) -> list:
    """Jittered synthcity training samples at 256², loaded once."""
    from p2pbench.data import Jitter, build_dataset

    data = build_dataset(
        "synthcity",
        "train",
        size=SIZE,
        direction=None,
        seed=0,
        data_root=None,
        n=n,
        transform=Jitter(SIZE),
        labels=False,
    )
    return [data[i] for i in range(len(data))]


def _batches(samples: list, batch: int) -> Callable[[], object]:
    """A function returning the next `batch` samples, collated in the main process."""
    from p2pbench.data import collate_samples

    position = 0

    def next_batch() -> object:
        nonlocal position
        chosen = [samples[(position + i) % len(samples)] for i in range(batch)]
        position = (position + batch) % len(samples)
        return collate_samples(chosen)

    return next_batch


@dataclass
class ReferenceModels:
    """The PyTorch pix2pix port's setting: fp32 NCHW networks and plain (for-loop) Adam."""

    g: nn.Module
    d: nn.Module
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam


def build_reference(device: str) -> ReferenceModels:
    from reference_models import build_discriminator, build_generator

    g = build_generator("unet256", seed=0).to(device).train()
    d = build_discriminator("patch70", seed=1, in_channels=6).to(device).train()

    def adam(net: nn.Module) -> torch.optim.Adam:
        return torch.optim.Adam(
            net.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False, fused=False
        )

    return ReferenceModels(g, d, adam(g), adam(d))


def reference_step(r: ReferenceModels, batch, device: str) -> None:
    """One pix2pix step as the port's `optimize_parameters`: D on (input, fake.detach()) vs
    (input, real) with BCE-with-logits, halved; then G on the GAN loss + 100·L1."""
    real_a, real_b = batch.input.to(device), batch.target.to(device)
    fake_b = r.g(real_a)
    r.d.requires_grad_(True)
    r.opt_d.zero_grad()
    pred_fake = r.d(torch.cat((real_a, fake_b.detach()), 1))
    pred_real = r.d(torch.cat((real_a, real_b), 1))
    loss_d_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
    loss_d_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    r.opt_d.step()
    r.d.requires_grad_(False)
    r.opt_g.zero_grad()
    pred_fake = r.d(torch.cat((real_a, fake_b), 1))
    loss_g_gan = F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake))
    (loss_g_gan + 100.0 * F.l1_loss(fake_b, real_b)).backward()
    r.opt_g.step()


def _default_step(
    ctx: Context, batch_size: int, precision: str, compile: bool = False
) -> tuple[Callable, object]:
    """p2pbench's own `train_step` on its `build_models`; returns (step(batch), models)."""
    from p2pbench.train.config import TrainConfig
    from p2pbench.train.trainer import build_models, train_step

    config = TrainConfig(
        generator="unet256",
        discriminator="patch70",
        batch_size=batch_size,
        size=SIZE,
        device=ctx.device,
        precision=precision,
        compile=compile,
    )
    m = build_models(config)
    m.generator.train()
    if m.discriminator is not None:
        m.discriminator.train()
    return functools.partial(train_step, config, m), (config, m)


def _step_counts(ctx: Context, batch: int) -> dict[str, float | int]:
    if ctx.quick:
        return {"warmup": 0, "min_seconds": 0.0, "min_calls": 3}
    if batch == 1:
        return {"warmup": 1, "min_seconds": 3.0, "min_calls": 5}
    return {"warmup": 0, "min_seconds": 0.0, "min_calls": 3}


def _measure_train_path(
    ctx: Context, path: str, precision: str, batch: int, step: Callable, samples: list
) -> Row:
    """FLOPs of one step (also the first warm-up), then the median seconds per step."""
    next_batch = _batches(samples, batch)
    call = _timed(ctx, lambda: step(next_batch()))
    flops = count_flops(call)
    seconds = time_per_call(call, **_step_counts(ctx, batch))  # type: ignore[arg-type]
    row = {
        "table": "step",
        "path": path,
        "precision": precision,
        "batch": batch,
        "seconds_per_step": seconds,
        "images_per_s": batch / seconds,
    } | _throughput(ctx, flops, seconds, precision)
    _log(f"train {path} batch {batch}: {batch / seconds:.2f} img/s, {row['gflops']:.1f} GFLOP/s")
    return row


def _profile(ctx: Context, step: Callable, samples: list, steps: int) -> list[Row]:
    """torch.profiler over `steps` steps of the smallest batch (1 by default): the top 8 ops by
    self time (device time on CUDA)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = ctx.device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    batch = min(ctx.options.batch_sizes)
    next_batch = _batches(samples, batch)
    call = _timed(ctx, lambda: step(next_batch()))
    with profile(activities=activities) as prof:
        for _ in range(steps):
            call()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
    total = sum(getattr(e, key) for e in events)
    top = sorted(events, key=lambda e: getattr(e, key), reverse=True)[:8]
    return [
        {
            "table": "profile",
            "op": e.key,
            "batch": batch,
            "ms_per_step": getattr(e, key) / 1000 / steps,
            "percent_of_self_time": 100 * getattr(e, key) / total,
            "calls_per_step": e.count / steps,
        }
        for e in top
    ]


def conv_layer_inputs(net: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, tuple]]:
    """(name, module, input shape) of every Conv2d/ConvTranspose2d, in call order (hooks)."""
    seen: list[tuple[str, nn.Module, tuple]] = []
    hooks = []
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):

            def hook(mod: nn.Module, args: tuple, out: object, name: str = name) -> None:
                seen.append((name, mod, tuple(args[0].shape)))

            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _layer_rows(ctx: Context, net: nn.Module) -> list[Row]:
    """Forward+backward of each U-Net conv alone (fp32, channels-last, batch 1), with input
    shapes from forward hooks on `net`."""
    cl = torch.channels_last
    x0 = torch.randn(1, 3, SIZE, SIZE, device=ctx.device).contiguous(memory_format=cl)
    rows: list[Row] = []
    counts = {"Conv2d": 0, "ConvTranspose2d": 0}
    for i, (name, module, shape) in enumerate(conv_layer_inputs(net, x0)):
        kind = type(module).__name__
        counts[kind] += 1
        layer = copy.deepcopy(module).float().to(memory_format=cl).requires_grad_(True)
        x = torch.randn(shape, device=ctx.device).contiguous(memory_format=cl)
        x.requires_grad_(i > 0)  # the first conv takes the image: no input gradient
        grad = torch.ones_like(layer(x.detach()))

        def call(layer: nn.Module = layer, x: torch.Tensor = x, grad: torch.Tensor = grad) -> None:
            x.grad = None
            layer.zero_grad(set_to_none=True)
            layer(x).backward(grad)
            synchronize(ctx.device)

        flops = count_flops(call)
        seconds = best_per_call(call, warmup=1, calls=5)
        k, s = module.kernel_size[0], module.stride[0]  # type: ignore[index]
        rows.append(
            {
                "table": "layer",
                "label": f"{'down' if kind == 'Conv2d' else 'up'}{counts[kind]}",
                "layer": name,
                "type": kind,
                "input": "×".join(str(v) for v in shape[1:]),
                "out_channels": module.out_channels,
                "kernel_stride": f"{k}/{s}",
                "seconds": seconds,
            }
            | _throughput(ctx, flops, seconds)
        )
    total = sum(float(r["seconds"]) for r in rows)  # type: ignore[arg-type]
    for r in rows:
        r["percent_of_layers"] = 100 * float(r["seconds"]) / total  # type: ignore[arg-type]
    return rows


def train_section(ctx: Context) -> list[Row]:
    """Training images/s: reference, default and bf16 paths, per batch size."""
    samples = _training_samples()
    rows: list[Row] = []
    profile_rows: list[Row] = []
    layer_rows: list[Row] = []
    for batch in ctx.options.batch_sizes:
        r = build_reference(ctx.device)
        rows.append(
            _measure_train_path(
                ctx,
                "reference",
                "fp32",
                batch,
                functools.partial(reference_step, r, device=ctx.device),
                samples,
            )
        )
        del r
        paths = [("default", "fp32", False), ("bf16", "bf16", False)]
        if ctx.options.compile:
            paths += [("compiled", "fp32", True), ("compiled-bf16", "bf16", True)]
        for path, precision, compiled in paths:
            step, (config, m) = _default_step(ctx, batch, precision, compiled)
            row = _measure_train_path(ctx, path, precision, batch, step, samples)
            row |= {"channels_last": config.channels_last, "compile": config.compile}
            rows.append(row)
            if path == "default" and batch == min(ctx.options.batch_sizes):
                profile_rows = _profile(ctx, step, samples, steps=2 if ctx.quick else 3)
                if not ctx.quick:
                    layer_rows = _layer_rows(ctx, m.generator)
            del step, m
    for row in rows:
        reference = next(r for r in rows if r["path"] == "reference" and r["batch"] == row["batch"])
        row["speedup_vs_reference"] = reference["seconds_per_step"] / row["seconds_per_step"]  # type: ignore[operator]
    return rows + profile_rows + layer_rows


# --- inference --------------------------------------------------------------------------------


Forward = Callable[[nn.Module, torch.Tensor], object]


def _inference_rows(
    ctx: Context,
    network: str,
    net: nn.Module,
    forwards: tuple[Forward, Forward],
    x: torch.Tensor,
    *,
    calls: int,
) -> list[Row]:
    """The exact path (fp32 NCHW, no_grad), then the default one (channels-last,
    inference_mode) on the same module, converted in place and back; FLOPs counted on the
    exact call (also its warm-up)."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    exact_forward, default_forward = forwards
    rows: list[Row] = []

    def exact() -> None:
        with torch.no_grad():
            exact_forward(net, x)

    x_cl = x.contiguous(memory_format=torch.channels_last)

    def default() -> None:
        with torch.inference_mode():
            default_forward(net, x_cl)

    flops = 0
    for path, fn in (("exact", exact), ("default", default)):
        call = _timed(ctx, fn)
        if path == "exact":
            flops = count_flops(call)  # also the exact path's warm-up
        else:
            net.to(memory_format=torch.channels_last)
            call()
        seconds = time_per_call(call, warmup=0, min_seconds=0.0, min_calls=calls)
        rows.append(
            {
                "table": "network",
                "network": network,
                "path": path,
                "batch": batch,
                "size": f"{height}×{width}",
                "seconds_per_batch": seconds,
                "images_per_s": batch / seconds,
            }
            | _throughput(ctx, flops, seconds)
        )
        _log(f"inference {network} {path} {height}×{width} batch {batch}: {batch / seconds:.2f}/s")
    net.to(memory_format=torch.contiguous_format)  # NCHW again, for the next exact path
    return rows


def _uint8_images(n: int, height: int, width: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, height, width), dtype=torch.uint8, generator=g).to(device)


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x)


def _fcn_exact(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """FCN-8s's own `predict`: Caffe preprocessing, no_grad forward, argmax."""
    from fcn.fcn8s import predict

    return predict(net, x)


def _fcn_default(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`predict`'s arithmetic with the preprocessed input in channels-last."""
    from fcn.fcn8s import caffe_preprocess

    return net(caffe_preprocess(x).contiguous(memory_format=torch.channels_last)).argmax(dim=1)


def _generator_rows(ctx: Context) -> list[Row]:
    from reference_models import build_generator

    net = build_generator("unet256", seed=0).to(ctx.device).eval()
    rows: list[Row] = []
    for batch in ctx.options.batch_sizes:
        x = torch.rand(batch, 3, SIZE, SIZE, device=ctx.device) * 2 - 1
        rows += _inference_rows(ctx, "unet256", net, (_forward, _forward), x, calls=3)
    return rows


def _fcn_rows(ctx: Context) -> list[Row]:
    from benchmarks.bench_fcn import _build

    net = _build(ctx.device)
    rows: list[Row] = []
    sizes = [(SIZE, SIZE)] + ([] if ctx.quick else [(1024, 2048)])
    for height, width in sizes:
        batches = ctx.options.batch_sizes if height == SIZE else (1,)
        for batch in batches:
            x = _uint8_images(batch, height, width, ctx.device)
            calls = 1 if height * width > 512 * 512 or batch > 1 and not _gpu(ctx) else 3
            forwards = (_fcn_exact, _fcn_default)
            rows += _inference_rows(ctx, "fcn8s", net, forwards, x, calls=calls)
            del x
    return rows


def _gpu(ctx: Context) -> bool:
    return ctx.device.startswith("cuda")


def calibrated_inception_state(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random InceptionV3 weights in torch-fidelity's layout with batch-norm statistics of a
    few smooth images (raw random weights make the features vanish); also saved to `path`."""
    import torchvision
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = torchvision.models.inception_v3(
            weights=None, aux_logits=False, num_classes=1008, init_weights=False
        )
        torch.save(net.state_dict(), path)
        fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], path)
        for m in fe.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batch
        low = torch.rand(8, 3, 8, 8)
        images = F.interpolate(low, size=(64, 64), mode="bicubic").clamp(0, 1) * 255
        fe.train()
        with torch.no_grad():
            fe(images.round().to(torch.uint8))
    state = {k: v.detach().clone() for k, v in fe.state_dict().items()}
    torch.save(state, path)
    return state


def _inception_rows(ctx: Context) -> list[Row]:
    """p2pbench's extractor vs torch-fidelity's network, same weights, same uint8 images."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from p2pbench.metrics.encoders.inception import InceptionExtractor
    from p2pbench.metrics.encoders.weights import LoadedWeights

    batch = 4 if ctx.quick else max(ctx.options.batch_sizes)
    x = _uint8_images(batch, SIZE, SIZE, ctx.device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random-inception.pth"
        state = calibrated_inception_state(path)
        ours = InceptionExtractor(  # as `evaluate` runs it by default
            LoadedWeights(path, "random", "benchmark", False, state),
            "tf",
            ctx.device,
            channels_last=True,
        )
        theirs = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(path))
        theirs = theirs.to(ctx.device)

    def torch_fidelity_call() -> torch.Tensor:
        with torch.no_grad():  # as torch-fidelity's own feature loop runs it
            return theirs(x)[0]

    ours_features = ours(x).pool3.cpu()
    theirs_features = torch_fidelity_call().cpu().to(torch.float64)
    difference = float((ours_features - theirs_features).abs().max())
    scale = float(theirs_features.abs().max())
    rows: list[Row] = []
    for name, fn in (("p2pbench", lambda: ours(x)), ("torch-fidelity", torch_fidelity_call)):
        call = _timed(ctx, fn)
        flops = count_flops(call)
        seconds = time_per_call(call, warmup=0, min_seconds=0.0 if ctx.quick else 2.0, min_calls=3)
        rows.append(
            {
                "table": "inception",
                "extractor": name,
                "batch": batch,
                "seconds_per_batch": seconds,
                "images_per_s": batch / seconds,
            }
            | _throughput(ctx, flops, seconds)
        )
    rows[0]["speed_ratio_vs_torch_fidelity"] = (
        rows[1]["seconds_per_batch"] / rows[0]["seconds_per_batch"]
    )  # type: ignore[operator]
    rows[0]["max_abs_difference"] = difference
    rows[0]["max_relative_difference"] = difference / scale if scale else None
    _log(f"inception: ours/torch-fidelity speed {rows[0]['speed_ratio_vs_torch_fidelity']:.3f}")
    return rows


def inference_section(ctx: Context) -> list[Row]:
    """Generator, FCN-8s and InceptionV3 forward images/s (exact vs default paths)."""
    return _generator_rows(ctx) + _fcn_rows(ctx) + _inception_rows(ctx)


# --- data -------------------------------------------------------------------------------------

CITY = "benchcity"


def write_cityscapes_like(root: Path, n: int, *, width: int = 2048, height: int = 1024) -> None:
    """`n` synthetic frames in the Cityscapes layout (train split): smooth noisy photos and
    blocky colour label maps at width×height, PNG (fast zlib level 1)."""
    rng = np.random.default_rng(0)
    photos = root / "leftImg8bit" / "train" / CITY
    labels = root / "gtFine" / "train" / CITY
    photos.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    palette = rng.integers(0, 256, (19, 3), dtype=np.uint8)
    for i in range(n):
        stem = f"{CITY}_{i:06d}_000019"
        low = Image.fromarray(rng.integers(0, 256, (height // 64, width // 64, 3), dtype=np.uint8))
        photo = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
        photo = photo + rng.integers(-6, 7, photo.shape, dtype=np.int16)
        Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(
            photos / f"{stem}_leftImg8bit.png", compress_level=1
        )
        classes = rng.integers(0, len(palette), (height // 32, width // 32))
        colour = Image.fromarray(palette[classes]).resize((width, height), Image.Resampling.NEAREST)
        colour.save(labels / f"{stem}_gtFine_color.png", compress_level=1)


def loader_images_per_s(dataset, workers: int, epochs: int = 2) -> float:
    """Images/s through a DataLoader (batch 1, collated by `collate_samples`) over `epochs`
    epochs after a warm-up epoch, so that starting the worker processes is not counted."""
    from torch.utils.data import DataLoader

    from p2pbench.data import collate_samples

    loader = DataLoader(
        dataset,
        batch_size=1,
        num_workers=workers,
        collate_fn=collate_samples,
        persistent_workers=workers > 0,
    )
    for _ in loader:  # warm-up epoch: workers start, caches fill
        pass
    t0 = time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            pass
    return epochs * len(dataset) / (time.perf_counter() - t0)


def _fastest_training(ctx: Context) -> float | None:
    steps = [r for r in ctx.results.get("train", []) if r.get("table") == "step"]
    return max((float(r["images_per_s"]) for r in steps), default=None)  # type: ignore[arg-type]


def data_section(ctx: Context) -> list[Row]:
    """Data loading alone: synthcity at 256 and 2048×1024 PNG pairs (decoded, and read from a
    filled decode cache), 0/1/2 workers."""
    from p2pbench.data import DecodeCache, Jitter, build_dataset

    workers = (0, 2) if ctx.quick else (0, 1, 2)
    fastest = _fastest_training(ctx)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        n_png = 4 if ctx.quick else 16
        t0 = time.perf_counter()
        write_cityscapes_like(Path(tmp), n_png)
        _log(f"data: wrote {n_png} 2048×1024 pairs in {time.perf_counter() - t0:.1f} s")
        datasets = {
            "synthcity 256 + jitter": build_dataset(
                "synthcity", "train", size=SIZE, direction=None, seed=0, data_root=None,
                n=16 if ctx.quick else 32, transform=Jitter(SIZE), labels=False,
            ),
            "2048×1024 PNG → 256 + jitter": build_dataset(
                "cityscapes", "train", size=SIZE, direction=None, seed=0, data_root=tmp,
                n=None, transform=Jitter(SIZE), labels=False,
            ),
        }  # fmt: skip
        cached = build_dataset(
            "cityscapes", "train", size=SIZE, direction=None, seed=0, data_root=tmp, n=None,
            transform=Jitter(SIZE), labels=False,
        )  # fmt: skip
        cached.decode_cache = DecodeCache(Path(tmp) / "decoded")
        for i in range(len(cached)):  # fill it: the first epoch decodes, the others read
            cached[i]
        datasets["2048×1024 PNG → 256 + jitter, decode cache"] = cached
        for name, dataset in datasets.items():
            for w in workers:
                rate = loader_images_per_s(dataset, w)
                rows.append(
                    {
                        "table": "loader",
                        "dataset": name,
                        "workers": w,
                        "images": len(dataset),
                        "images_per_s": rate,
                        "images_per_s_per_worker": rate / max(w, 1),
                        "ratio_to_fastest_training": rate / fastest if fastest else None,
                    }
                )
                _log(f"data {name} workers {w}: {rate:.1f} img/s")
    return rows


# --- memory, frechet --------------------------------------------------------------------------


VM_HWM = """
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"vm_hwm_mib": hwm / 1024}))
"""
"""Appended to bench_eval_memory's child: the process's own peak RSS. Its `ru_maxrss` is not:
Linux keeps it across fork and exec, so it starts at this (large) process's peak."""


def eval_memory_rows(sizes: Sequence[int]) -> list[Row]:
    """bench_eval_memory's measurement (its child script, its setup): peak RSS of `evaluate`
    for each number of images, each in a fresh process (VmHWM; `ru_maxrss` kept as well)."""
    from benchmarks.bench_eval_memory import CHILD, write_folder, write_inputs

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inception, generator = write_inputs(work)
        for n in sizes:
            folder = write_folder(work, n)
            args = [str(folder), str(generator), str(inception)]
            out = subprocess.run(
                [sys.executable, "-c", CHILD + VM_HWM, *args],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "P2PBENCH_HOME": str(work / f"home{n}")},
            )
            *_, evaluated, peak = out.stdout.strip().splitlines()
            child = json.loads(evaluated)
            rows.append(
                {
                    "table": "evaluate",
                    "images": n,
                    "n_images": child["n_images"],
                    "seconds": child["seconds"],
                    "peak_rss_mib": json.loads(peak)["vm_hwm_mib"],
                    "ru_maxrss_mib": child["peak_rss_mib"],  # includes the parent's peak
                }
            )
            _log(f"memory: {n} images, peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB")
    smallest = float(rows[0]["peak_rss_mib"])  # type: ignore[arg-type]
    for r in rows:
        r["rss_ratio_to_smallest"] = float(r["peak_rss_mib"]) / smallest  # type: ignore[arg-type]
    return rows


def memory_section(ctx: Context) -> list[Row]:
    """Peak RSS of `evaluate`, 100 vs 1,000 images (quick: 50 vs 200)."""
    return eval_memory_rows((50, 200) if ctx.quick else (100, 1000))


def frechet_section(ctx: Context) -> list[Row]:
    """Fréchet distance at 2048 dims: ours vs scipy sqrtm vs torch-fidelity's eigenvalues."""
    from benchmarks.bench_fid import _covariances, _eigvals_fid, _sqrtm_fid
    from p2pbench.metrics.frechet import frechet_distance_arrays

    routes = [
        ("ours", frechet_distance_arrays, 1 if ctx.quick else 3),
        ("scipy-sqrtm", _sqrtm_fid, 1 if ctx.quick else 2),
        ("torch-fidelity", _eigvals_fid, 1 if ctx.quick else 2),
    ]
    rows: list[Row] = []
    for n in (500,) if ctx.quick else (5000, 500):  # full rank, then rank-deficient (n < 2048)
        stats = _covariances(n, seed=n)
        results: dict[str, tuple[float, float]] = {}
        for name, fn, calls in routes:
            times, value = [], 0.0
            for _ in range(calls):
                t0 = time.perf_counter()
                value = fn(*stats)
                times.append(time.perf_counter() - t0)
            results[name] = (sorted(times)[len(times) // 2], value)
        ours_seconds, ours_value = results["ours"]
        for name, (seconds, value) in results.items():
            rows.append(
                {
                    "table": "frechet",
                    "route": name,
                    "n": n,
                    "dims": 2048,
                    "seconds": seconds,
                    "fid": value,
                    "relative_difference_from_ours": abs(value - ours_value) / abs(ours_value),
                    "time_ratio_to_ours": seconds / ours_seconds,
                }
            )
        _log(f"frechet n={n}: ours {ours_seconds:.2f} s, sqrtm {results['scipy-sqrtm'][0]:.2f} s")
    return rows


# --- agreement --------------------------------------------------------------------------------


def _synthcity_photos(n: int) -> torch.Tensor:
    from p2pbench.data import build_dataset, quantize_uint8
    from p2pbench.protocols import get_protocol

    protocol = get_protocol("synthcity")
    data = build_dataset(
        "synthcity",
        protocol.split,
        size=protocol.image_size,
        seed=0,
        n=n,
        direction=None,
        data_root=None,
    )
    return quantize_uint8(torch.stack([data[i].target for i in range(n)]))


def encoders_section(ctx: Context) -> list[Row]:
    """Each feature encoder's images/s and peak memory, in a fresh process (bench_encoders)."""
    from benchmarks.bench_encoders import ENCODERS, rows

    names = (ENCODERS[0], ENCODERS[-1]) if ctx.options.quick else ENCODERS
    batch = 2 if ctx.options.quick else 8
    found = rows(ctx.options.device, batch, 1 if ctx.options.quick else 2, names)
    for r in found:
        r["table"] = "encoders"
        _log(f"encoders: {r.get('encoder')} {r.get('images_per_s', r.get('error'))} img/s")
    return found  # type: ignore[return-value]


def agreement_section(ctx: Context) -> list[Row]:
    """How far each way of running the metric networks moves their outputs from the exact fp32
    NCHW path: FCN argmax pixels kept (the shipped fcn8s-synthcity128 on synthcity@v2 val
    photos) and the largest InceptionV3 feature difference (random calibrated weights), for the
    default path (channels-last), bf16 autocast and, on CUDA, TF32 and the CPU."""
    from fcn.fcn8s import predict
    from p2pbench.evaluation.segmenters import load_segmenter
    from p2pbench.metrics.encoders.inception import InceptionExtractor
    from p2pbench.metrics.encoders.weights import LoadedWeights

    photos = _synthcity_photos(16 if ctx.quick else 64)
    device = torch.device(ctx.device)
    segmenter = load_segmenter("fcn8s-synthcity128", device=device).module
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random-inception.pth"
        weights = LoadedWeights(
            path, "random", "benchmark", False, calibrated_inception_state(path)
        )
        extractor = InceptionExtractor(weights, "tf", device)
    inception_photos = photos[:8]

    def run_fcn(mode: str) -> torch.Tensor:
        with _math_mode(mode, device):
            return predict(segmenter, photos.to(device), channels_last=mode != "exact").cpu()

    def run_inception(mode: str) -> torch.Tensor:
        extractor.channels_last = mode != "exact"
        extractor.net.to(
            memory_format=torch.channels_last if mode != "exact" else torch.contiguous_format
        )
        with _math_mode(mode, device):
            return extractor(inception_photos.to(device)).pool3.cpu()

    modes = ["default", "bf16"] + (["tf32"] if device.type == "cuda" else [])
    exact_fcn, exact_features = run_fcn("exact"), run_inception("exact")
    rows: list[Row] = []
    for mode in modes:
        kept = float((run_fcn(mode) == exact_fcn).double().mean())
        features = run_inception(mode)
        scale = float(exact_features.abs().max())
        rows.append(
            {
                "table": "agreement",
                "mode": mode,
                "device": ctx.device,
                "fcn_argmax_kept_percent": f"{100 * kept:.4f}",
                "fcn_passes": kept >= 0.9999,
                "inception_max_relative_difference": float((features - exact_features).abs().max())
                / scale,
                "images": len(photos),
            }
        )
    if device.type == "cuda":  # the same exact path on the CPU
        cpu_fcn = predict(segmenter.cpu(), photos)
        cpu_kept = float((cpu_fcn == exact_fcn).double().mean())
        rows.append(
            {
                "table": "agreement",
                "mode": "exact, cpu vs cuda",
                "device": ctx.device,
                "fcn_argmax_kept_percent": f"{100 * cpu_kept:.4f}",
                "fcn_passes": cpu_kept >= 0.9999,
                "images": len(photos),
            }
        )
    return rows


class _math_mode:
    """exact/default: fp32 with TF32 off; bf16: autocast; tf32: TF32 on (CUDA)."""

    def __init__(self, mode: str, device: torch.device) -> None:
        self.mode, self.device = mode, device

    def __enter__(self) -> None:
        self.saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        tf32 = self.mode == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        self.autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.mode == "bf16"
        )
        self.autocast.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.autocast.__exit__(*exc)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.saved


SECTION_FUNCTIONS: dict[str, Callable[[Context], list[Row]]] = {
    "peak": peak_section,
    "train": train_section,
    "inference": inference_section,
    "agreement": agreement_section,
    "data": data_section,
    "memory": memory_section,
    "frechet": frechet_section,
    "encoders": encoders_section,
}


# --- Markdown ---------------------------------------------------------------------------------

Column = tuple[str, str]
PERF: list[Column] = [("gflops", "GFLOP/s"), ("percent_of_peak", "% of peak")]
COLUMNS: dict[str, list[Column]] = {
    "encoders": [
        ("encoder", "encoder"),
        ("mode", "mode"),
        ("dim", "dim"),
        ("batch", "batch"),
        ("build_s", "build s"),
        ("s_per_batch", "s/batch"),
        ("images_per_s", "img/s"),
        ("peak_rss_mib", "peak RSS MiB"),
        ("peak_gpu_mib", "peak GPU MiB"),
        ("error", "error"),
    ],
    "peak": [
        ("precision", "dtype"),
        ("op", "op"),
        ("shape", "shape"),
        ("batch", "batch"),
        ("seconds", "s/call (best)"),
        ("gflop", "GFLOP"),
        *PERF,
    ],
    "step": [
        ("path", "path"),
        ("precision", "precision"),
        ("batch", "batch"),
        ("seconds_per_step", "s/step"),
        ("images_per_s", "img/s"),
        ("gflop", "GFLOP/step"),
        *PERF,
        ("speedup_vs_reference", "× reference"),
    ],
    "profile": [
        ("op", "op (default fp32 step)"),
        ("batch", "batch"),
        ("ms_per_step", "ms/step"),
        ("percent_of_self_time", "% of self time"),
        ("calls_per_step", "calls/step"),
    ],
    "layer": [
        ("label", "U-Net layer (fwd+bwd, batch 1)"),
        ("type", "type"),
        ("input", "input C×H×W"),
        ("out_channels", "out"),
        ("kernel_stride", "k/s"),
        ("seconds", "s"),
        ("percent_of_layers", "% of layers' time"),
        *PERF,
    ],
    "agreement": [
        ("mode", "path vs exact fp32 NCHW"),
        ("device", "device"),
        ("fcn_argmax_kept_percent", "FCN argmax kept %"),
        ("fcn_passes", "≥ 99.99 %"),
        ("inception_max_relative_difference", "Inception max rel. diff"),
        ("images", "images"),
    ],
    "network": [
        ("network", "network"),
        ("path", "path"),
        ("batch", "batch"),
        ("size", "size"),
        ("seconds_per_batch", "s/batch"),
        ("images_per_s", "img/s"),
        *PERF,
    ],
    "inception": [
        ("extractor", "InceptionV3"),
        ("batch", "batch"),
        ("seconds_per_batch", "s/batch"),
        ("images_per_s", "img/s"),
        *PERF,
        ("speed_ratio_vs_torch_fidelity", "speed vs torch-fidelity"),
        ("max_relative_difference", "max feature diff (rel.)"),
    ],
    "loader": [
        ("dataset", "data"),
        ("workers", "workers"),
        ("images", "images"),
        ("images_per_s", "img/s"),
        ("images_per_s_per_worker", "img/s per worker"),
        ("ratio_to_fastest_training", "× fastest training"),
    ],
    "evaluate": [
        ("images", "images"),
        ("seconds", "s"),
        ("peak_rss_mib", "peak RSS (MiB, VmHWM)"),
        ("rss_ratio_to_smallest", "× smallest"),
    ],
    "frechet": [
        ("route", "route"),
        ("n", "n"),
        ("seconds", "s"),
        ("fid", "FID"),
        ("relative_difference_from_ours", "rel. diff from ours"),
        ("time_ratio_to_ours", "× ours time"),
    ],
}


def fmt(value: object) -> str:
    """A table cell: floats to about 3 significant digits, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value).replace("|", "\\|")
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{value:,.0f}"
    if a >= 0.01:
        return f"{value:.3g}"
    return f"{value:.2e}"


def markdown_table(rows: Sequence[Row], columns: Sequence[Column]) -> str:
    """A Markdown table of `rows` with the given columns (present in some row), then `error`."""
    used = [(k, h) for k, h in columns if any(k in r for r in rows)]
    if not used:
        used = [(k, k) for k in dict.fromkeys(k for r in rows for k in r if k != "table")]
    if any("error" in r for r in rows) and ("error", "error") not in used:
        used.append(("error", "error"))
    lines = [
        "| " + " | ".join(h for _, h in used) + " |",
        "|" + "|".join("---" for _ in used) + "|",
    ]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k, _ in used) + " |" for r in rows]
    return "\n".join(lines)


def environment_line(env: dict[str, object], peaks: dict[str, float | None]) -> str:
    def peak(name: str) -> str:
        v = peaks.get(name)
        return f"{v:.1f} GFLOP/s" if v else "not measured"

    return (
        f"torch {env['torch']}, {env['threads']} threads, CPU {env['cpu_model']} "
        f"({env['cores']} cores), device {env['device']}"
        + (f" ({env['cuda']})" if env.get("cuda") else "")
        + f"; measured peak fp32 {peak('fp32')}, bf16 {peak('bf16')}"
    )


def render_markdown(payload: dict[str, object]) -> str:
    """The run's Markdown: the environment and peaks, then one table per section part."""
    env = payload["environment"]
    peaks = {"fp32": payload.get("peak_fp32_gflops"), "bf16": payload.get("peak_bf16_gflops")}
    mode = "quick" if payload.get("quick") else "full"
    parts = [
        environment_line(env, peaks),  # type: ignore[arg-type]
        "",
        f"# p2pbench benchmark run ({mode}, {payload.get('when', '')})",
    ]
    seconds = payload.get("section_seconds", {})
    for section, rows in payload["sections"].items():  # type: ignore[union-attr]
        took = seconds.get(section)  # type: ignore[union-attr]
        parts += ["", f"## {section}" + (f" ({took:.0f} s)" if took is not None else "")]
        groups: dict[str, list[Row]] = {}
        for r in rows:
            groups.setdefault(str(r.get("table", section)), []).append(r)
        for table, group in groups.items():
            parts += ["", markdown_table(group, COLUMNS.get(table, []))]
    if payload.get("wall_seconds") is not None:
        parts += ["", f"Wall time: {payload['wall_seconds']:.0f} s."]
    return "\n".join(parts) + "\n"


# --- main -------------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="trimmed run (≤ 3 min on 2 cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--batch-sizes", help="comma-separated; default 1,8 (cuda 1,8,32; quick 1)")
    parser.add_argument("--only", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the result files")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile'd training (default on cuda)",
    )
    args = parser.parse_args(argv)
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        parser.error(f"--device must be cpu or cuda[:N], found {args.device!r}")
    if args.batch_sizes:
        batch_sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    elif args.quick:
        batch_sizes = (1,)
    else:
        batch_sizes = (1, 8, 32) if args.device.startswith("cuda") else (1, 8)
    if min(batch_sizes) < 1:
        parser.error("batch sizes must be at least 1")
    chosen = tuple(s.strip() for s in args.only.split(",")) if args.only else SECTIONS
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    if any(s in NEEDS_PEAK for s in chosen) and "peak" not in chosen:
        chosen = ("peak", *chosen)  # every rate is shown beside the measured limit
    sections = tuple(s for s in SECTIONS if s in chosen)
    compile_steps = args.compile or args.device.startswith("cuda")
    return Options(args.device, args.quick, batch_sizes, sections, args.out, compile_steps)


def run(options: Options) -> dict[str, object]:
    """Run the chosen sections; a failing section leaves an error row and the rest go on."""
    ctx = Context(options)
    section_seconds: dict[str, float] = {}
    start = time.perf_counter()
    for name in options.sections:
        _log(f"== {name}")
        t0 = time.perf_counter()
        try:
            ctx.results[name] = SECTION_FUNCTIONS[name](ctx)
        except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
            traceback.print_exc()
            ctx.results[name] = [{"table": "error", "error": f"{type(e).__name__}: {e}"}]
        section_seconds[name] = time.perf_counter() - t0
    env = environment() | {"device": options.device}
    return {
        "benchmark": "run",
        "device": options.device,
        "quick": options.quick,
        "batch_sizes": list(options.batch_sizes),
        "environment": env,
        "peak_fp32_gflops": ctx.peaks["fp32"],
        "peak_bf16_gflops": ctx.peaks["bf16"],
        "sections": ctx.results,
        "section_seconds": section_seconds,
        "wall_seconds": time.perf_counter() - start,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _configure_threads_and_device(device: str) -> None:
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(os.cpu_count() or 1)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    _configure_threads_and_device(options.device)
    payload = run(options)
    name = f"run-{options.device.split(':')[0]}"
    markdown = render_markdown(payload)
    atomic_write_text(options.out / f"{name}.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(options.out / f"{name}.md", markdown)
    print(markdown)
    _log(f"wrote {options.out / name}.json and .md")
    sections: dict[str, list[Row]] = payload["sections"]  # type: ignore[assignment]
    failed = [s for s, rows in sections.items() if any(r.get("table") == "error" for r in rows)]
    if failed:
        _log(f"sections that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
