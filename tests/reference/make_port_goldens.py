"""Write golden outputs of the PyTorch pix2pix port's own networks, for tests/test_port.py.

The port's ``models/networks.py`` is not part of this repository: extract it from a checkout of
junyanz/pytorch-CycleGAN-and-pix2pix into a scratch directory and pass its path::

    python tests/reference/make_port_goldens.py --port-networks /tmp/x/networks.py \\
        --port-commit <sha> --out tests/golden/port_outputs.json

Each network gets the deterministic weights of ``port_fixture.fill_state_dict`` and the
summaries of its outputs on ``port_fixture.fixed_input`` are stored; no weights are stored.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from port_fixture import (  # noqa: E402
    FACTS_PARAMS,
    FILL_RULES,
    INPUT_RULES,
    SUMMARY_RULES,
    fill_state_dict,
    fixed_input,
    state_dict_checksum,
    summarise,
)

INPUT_SEED = 0
# Dropout networks also get one train-mode run with the global RNG seeded just before the forward
# pass: it matches only if dropout sits at the same places and draws its masks in the same order.
DROPOUT_SEED = 7

# (case id, port netG, norm, use_dropout, our registry name, image size)
G_CASES: list[tuple[str, str, str, bool, str, int]] = [
    ("G_unet_256_batch_dropout", "unet_256", "batch", True, "unet256", 256),
    ("G_unet_256_batch", "unet_256", "batch", False, "unet256", 256),
    ("G_unet_128_batch_dropout", "unet_128", "batch", True, "unet128", 128),
    ("G_resnet_9blocks_batch", "resnet_9blocks", "batch", False, "resnet9", 256),
    ("G_resnet_9blocks_batch_dropout", "resnet_9blocks", "batch", True, "resnet9", 256),
    ("G_resnet_9blocks_instance", "resnet_9blocks", "instance", False, "resnet9", 256),
]
# (case id, port netD, n_layers_D, norm, our registry name); D input is 6 x 256 x 256
D_CASES: list[tuple[str, str, int, str, str]] = [
    ("D_basic_batch", "basic", 3, "batch", "patch70"),
    ("D_n_layers_1_batch", "n_layers", 1, "batch", "patch16"),
    ("D_n_layers_5_batch", "n_layers", 5, "batch", "patch286"),
    ("D_pixel_batch", "pixel", 3, "batch", "patch1"),
    ("D_basic_instance", "basic", 3, "instance", "patch70"),
]


def load_port(path: Path) -> ModuleType:
    """Import the port's networks.py from ``path`` under a private module name."""
    spec = importlib.util.spec_from_file_location("_port_networks", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_case(net: torch.nn.Module, shape: list[int], dropout: bool) -> dict[str, Any]:
    """Load the fixture weights into ``net``; summarise its outputs in each mode."""
    sd = net.state_dict()
    keys = [(k, list(v.shape)) for k, v in sd.items()]
    filled = fill_state_dict(keys)
    runs = [("eval", 1)] + ([("train_seeded", 1)] if dropout else [("train", 1), ("train", 2)])
    out: list[dict[str, Any]] = []
    for mode, batch in runs:
        net.load_state_dict(filled, strict=True)  # fresh: train mode updates running stats
        net.train(mode != "eval")
        x = fixed_input([batch, *shape[1:]], seed=INPUT_SEED)
        if mode == "train_seeded":
            torch.manual_seed(DROPOUT_SEED)
        with torch.no_grad():
            y = net(x)
        out.append(
            {
                "mode": mode,
                "input_shape": list(x.shape),
                "input_seed": INPUT_SEED,
                "input_sum": x.to(torch.float64).sum().item(),
                **({"dropout_seed": DROPOUT_SEED} if mode == "train_seeded" else {}),
                "output": summarise(y),
            }
        )
    return {
        "param_count": sum(p.numel() for p in net.parameters()),
        "weights_checksum": state_dict_checksum(filled),
        "keys": keys,
        "runs": out,
    }


def build(pn: ModuleType, kind: str, *args: Any, **kw: Any) -> torch.nn.Module:
    """Call the port's define_G / define_D (CPU, its own init), silencing its print."""
    with contextlib.redirect_stdout(io.StringIO()):
        if kind == "G":
            return pn.define_G(*args, **kw)
        return pn.define_D(*args, **kw)


def main(argv: list[str] | None = None) -> int:
    """Build every case with the port's code and write the golden JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-networks", type=Path, required=True)
    ap.add_argument("--port-commit", default="unrecorded")
    ap.add_argument("--out", type=Path, default=Path("tests/golden/port_outputs.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # the port's define_* initialise randomly before we overwrite
    pn = load_port(args.port_networks)
    src = args.port_networks.read_bytes()

    cases: list[dict[str, Any]] = []
    for cid, net_g, norm, dropout, ours, size in G_CASES:
        net = build(pn, "G", 3, 3, 64, net_g, norm=norm, use_dropout=dropout, gpu_ids=[])
        res = run_case(net, [1, 3, size, size], dropout)
        port = {"netG": net_g, "norm": norm, "use_dropout": dropout, "ngf": 64}
        cases.append(
            {
                "id": cid,
                "kind": "G",
                "port": port,
                "ours": {"name": ours, "dropout": dropout, "norm": norm},
                **res,
            }
        )
        print(f"{cid}: {res['param_count']:,} parameters", flush=True)
    for cid, net_d, n_layers, norm, ours in D_CASES:
        net = build(pn, "D", 6, 64, net_d, n_layers_D=n_layers, norm=norm, gpu_ids=[])
        res = run_case(net, [1, 6, 256, 256], dropout=False)
        port = {"netD": net_d, "n_layers_D": n_layers, "norm": norm, "ndf": 64}
        cases.append(
            {
                "id": cid,
                "kind": "D",
                "port": port,
                "ours": {"name": ours, "in_channels": 6, "norm": norm},
                **res,
            }
        )
        print(f"{cid}: {res['param_count']:,} parameters", flush=True)

    by_id = {c["id"]: c for c in cases}
    for cid, n in FACTS_PARAMS.items():
        got = by_id[cid]["param_count"]
        print(f"FACTS {cid}: {n:,} {'ok' if got == n else f'MISMATCH (port {got:,})'}")
    same = (
        by_id["G_unet_256_batch"]["runs"][0]["output"]
        == by_id["G_unet_256_batch_dropout"]["runs"][0]["output"]
    )
    print(f"unet_256 eval output identical with/without dropout: {same}")

    doc = {
        "format": 1,
        "port": {
            "repo": "junyanz/pytorch-CycleGAN-and-pix2pix",
            "path": "models/networks.py",
            "commit": args.port_commit,
            "git_blob": hashlib.sha1(b"blob %d\0" % len(src) + src).hexdigest(),
        },
        "torch_version": torch.__version__,
        "threads": args.threads,
        "rules": {"fill": FILL_RULES, "input": INPUT_RULES, "summary": SUMMARY_RULES},
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
