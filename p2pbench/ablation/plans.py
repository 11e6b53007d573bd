"""The paper's ablations as plans: which variants, which runs, and what is refused.

A `Plan` names the pix2pix table it reproduces, its variants (each a few `TrainConfig` fields
over the plan's base), the reference variant the others are compared with, and the paper's own
training settings for that table (batch size, generator family). `plan_runs` turns a plan and
the user's `AblationOptions` into one `TrainConfig` per (variant, seed), refusing, with the
reason, each variant that cannot work at the chosen size, before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from p2pbench.data import SYNTHCITY_DEFAULT_N
from p2pbench.data.synthcity.dataset import parse_synthcity_name
from p2pbench.distributed import rank_and_world
from p2pbench.errors import InvalidValueError
from p2pbench.protocols import Protocol, get_protocol, resolve
from p2pbench.registry import Registry, UnknownNameError
from p2pbench.seeds import check_seed
from p2pbench.train import TrainConfig
from p2pbench.train.ddp import check_batch_split
from reference_models import GENERATORS


@dataclass(frozen=True)
class Variant:
    """One row of an ablation table: a name for files, a label for tables, its config fields."""

    name: str
    label: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """An ablation of the pix2pix paper (Isola et al. 2017): one table, its variants."""

    name: str
    title: str
    paper_table: str  # "<reference>:<table>" in p2pbench/reporting/reference/
    task: str  # labels2photo or photo2labels
    reference_variant: str
    variants: tuple[Variant, ...]
    base: Mapping[str, Any] = field(default_factory=dict)  # the paper's settings for the table
    family: str = "unet"  # generator family, sized to the images: unet128, encdec256, ...

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UnknownNameError(f"plan {self.name} has no variant {name!r}")


PLANS: Registry[Plan] = Registry("ablation plan")

PLANS.add(
    "receptive-field",
    Plan(
        name="receptive-field",
        title="Receptive field of the discriminator (pix2pix Table 3)",
        paper_table="pix2pix-2017:table3",
        task="labels2photo",
        reference_variant="patch70",
        variants=tuple(
            Variant(f"patch{n}", f"{n}×{n}", {"discriminator": f"patch{n}"})
            for n in (1, 16, 70, 286)
        ),
        base={"loss": "l1+cgan", "batch_size": 1},
    ),
)
PLANS.add(
    "loss",
    Plan(
        name="loss",
        title="Objective (pix2pix Table 1)",
        paper_table="pix2pix-2017:table1",
        task="labels2photo",
        reference_variant="l1+cgan",
        variants=tuple(
            Variant(loss, label, {"loss": loss})
            for loss, label in (
                ("l1", "L1"),
                ("gan", "GAN"),
                ("cgan", "cGAN"),
                ("l1+gan", "L1+GAN"),
                ("l1+cgan", "L1+cGAN"),
            )
        ),
        base={"discriminator": "patch70", "batch_size": 1},
    ),
)
PLANS.add(
    "generator",
    Plan(
        name="generator",
        title="Generator architecture and objective (pix2pix Table 2)",
        paper_table="pix2pix-2017:table2",
        task="labels2photo",
        reference_variant="unet-l1+cgan",
        variants=tuple(
            Variant(f"{family}-{loss}", f"{label} ({loss_label})", {"family": family, "loss": loss})
            for family, label in (("encdec", "Encoder-decoder"), ("unet", "U-Net"))
            for loss, loss_label in (("l1", "L1"), ("l1+cgan", "L1+cGAN"))
        ),
        base={"discriminator": "patch70", "batch_size": 10},  # the paper's Table 2: batch 10
    ),
)
PLANS.add(
    "photo2labels",
    Plan(
        name="photo2labels",
        title="Photo → labels (pix2pix Table 6)",
        paper_table="pix2pix-2017:table6",
        task="photo2labels",
        reference_variant="l1+cgan",
        variants=tuple(
            Variant(loss, label, {"loss": loss})
            for loss, label in (("l1", "L1"), ("cgan", "cGAN"), ("l1+cgan", "L1+cGAN"))
        ),
        base={"discriminator": "patch70", "batch_size": 1},
    ),
)


@dataclass(frozen=True)
class AblationOptions:
    """What a user chooses for an ablation; None means the plan's or the protocol's value.

    `steps` or `epochs` (not both) set the length of every run; `paper_networks` builds the
    U-Net / encoder-decoder as the networks behind the paper's tables (a norm on the 1×1
    bottleneck, see `reference_models.GeneratorConfig`).
    """

    data: str = "synthcity"
    data_root: str | None = None
    protocol: str | None = None
    size: int | None = None
    steps: int | None = None
    epochs: int | None = None
    seeds: tuple[int, ...] = (0,)
    batch_size: int | None = None
    ngf: int = 64
    ndf: int = 64
    n_train: int | None = None
    paper_networks: bool = False
    device: str = "cpu"
    sample_images: int = 4  # fixed val samples saved per run for the report's image grid
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise InvalidValueError("give --steps or --epochs, not both")
        for name in ("steps", "epochs", "batch_size", "size", "n_train"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InvalidValueError(f"{name} must be at least 1, found {value}")
        if not self.seeds:
            raise InvalidValueError("give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise InvalidValueError(f"seeds must be distinct, found {list(self.seeds)}")
        for seed in self.seeds:
            check_seed(seed)
        for name in ("ngf", "ndf", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidValueError(f"{name} must be at least 1, found {getattr(self, name)}")
        if not 0 <= self.sample_images <= 16:
            raise InvalidValueError(f"sample_images must be in [0, 16], found {self.sample_images}")

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    variant: str
    seed: int
    config: TrainConfig


@dataclass(frozen=True)
class PlannedAblation:
    """A plan made concrete: the protocol, the runs, and the variants refused (with reasons)."""

    plan: Plan
    options: AblationOptions
    protocol: Protocol
    runs: tuple[PlannedRun, ...]
    refused: tuple[tuple[str, str], ...]  # (variant, reason)

    @property
    def networks(self) -> str:
        if self.options.paper_networks:
            return (
                "paper-era networks: a norm on the 1×1 bottleneck, as behind the paper's tables "
                "(removed from the Lua code in b479b6b)"
            )
        return "current networks: no norm on the bottleneck (the Lua code since b479b6b, the port)"

    def variants(self) -> tuple[Variant, ...]:
        """The variants that run (refused ones left out), in plan order."""
        refused = {v for v, _ in self.refused}
        return tuple(v for v in self.plan.variants if v.name not in refused)


def plan_protocol(plan: Plan, options: AblationOptions) -> Protocol:
    """The protocol the plan's runs are scored under (`--protocol`, else the data's default)."""
    if options.protocol is not None:
        protocol = get_protocol(options.protocol)
        if protocol.task not in (plan.task, "paired"):
            raise InvalidValueError(
                f"plan {plan.name} is {plan.task}, but protocol {protocol.key} scores "
                f"{protocol.task}; choose a {plan.task} protocol"
            )
        return protocol
    direction = "AtoB" if plan.task == "photo2labels" else "BtoA"
    return resolve(options.data, task=plan.task, direction=direction)


def _train_data(options: AblationOptions, protocol: Protocol) -> str:
    """The training data name: synthcity of the protocol's scene version, else as given."""
    if parse_synthcity_name(options.data) is not None:
        if protocol.dataset != "synthcity":
            raise InvalidValueError(f"--data {options.data} cannot be scored by {protocol.key}")
        return f"synthcity@v{protocol.dataset_version}"
    return options.data


def _check_split(config: TrainConfig, n_train: int | None) -> None:
    """The trainer's batch-split rule for this process group, before any run trains (the last
    batch of an epoch is checked where the number of training images is known: synthcity)."""
    world = rank_and_world()[1]
    n = n_train if n_train is not None and config.n_train is not None else None
    steps_per_epoch = math.ceil(n / config.batch_size) if n else 0
    whole = n is not None and (config.max_steps is None or config.max_steps >= steps_per_epoch)
    check_batch_split(config.batch_size, n or 0, world, whole_epoch=whole)


def plan_runs(plan: Plan, options: AblationOptions) -> PlannedAblation:
    """One TrainConfig per (variant, seed); variants that cannot run are refused with reasons."""
    protocol = plan_protocol(plan, options)
    size = options.size or protocol.image_size
    if size != protocol.image_size:
        raise InvalidValueError(
            f"--size {size} does not match protocol {protocol.key}, which scores "
            f"{protocol.image_size}×{protocol.image_size} images; drop --size or choose a "
            f"protocol of that size (e.g. synthcity@v1 for 64 px)"
        )
    data = _train_data(options, protocol)
    n_train = options.n_train
    if n_train is None and parse_synthcity_name(data) is not None:
        n_train = SYNTHCITY_DEFAULT_N["train"]
    runs: list[PlannedRun] = []
    refused: list[tuple[str, str]] = []
    for variant in plan.variants:
        fields = {**plan.base, **variant.overrides}
        family = fields.pop("family", plan.family)
        generator = f"{family}{size}"
        try:
            if generator not in GENERATORS:
                raise InvalidValueError(
                    f"there is no {family} generator for {size} px (sizes: "
                    f"{', '.join(n for n in GENERATORS.names() if n.startswith(family))})"
                )
            configs = [
                TrainConfig(
                    data=data,
                    data_root=options.data_root,
                    direction="AtoB" if plan.task == "photo2labels" else "BtoA",
                    n_train=n_train if parse_synthcity_name(data) is not None else None,
                    size=size,
                    generator=generator,
                    ngf=options.ngf,
                    ndf=options.ndf,
                    bottleneck_norm=options.paper_networks,
                    **{
                        **fields,
                        **({"batch_size": options.batch_size} if options.batch_size else {}),
                    },
                    epochs=options.epochs or 200,
                    max_steps=options.steps,
                    seed=seed,
                    device=options.device,
                    checkpoint_every=options.checkpoint_every,
                    sample_every=10**9,  # the runner saves its own fixed-id outputs
                )
                for seed in options.seeds
            ]
            for config in configs:  # under torchrun: every rank needs a sample of each batch
                _check_split(config, n_train)
        except ValueError as e:
            refused.append((variant.name, str(e)))
            continue
        runs.extend(
            PlannedRun(f"{variant.name}-seed{seed}", variant.name, seed, config)
            for seed, config in zip(options.seeds, configs, strict=True)
        )
    if plan.reference_variant in {v for v, _ in refused}:
        reason = dict(refused)[plan.reference_variant]
        raise InvalidValueError(
            f"the reference variant {plan.reference_variant} of plan {plan.name} cannot run: "
            f"{reason}"
        )
    return PlannedAblation(plan, options, protocol, tuple(runs), tuple(refused))
