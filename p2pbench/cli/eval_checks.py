"""What `eval` and `generate` build from their options, and what they check before any work:
options given where they have no effect, metrics required up front, encoder weights."""

from __future__ import annotations

from pathlib import Path

import click

from p2pbench.cli import checks
from p2pbench.cli.checks import check_applies, option_given
from p2pbench.cli.context import command_line
from p2pbench.evaluation import (
    EncoderSpec,
    GeneratorFile,
    ImageFolder,
    RealImages,
    RunSpec,
    ScoreSpec,
)
from p2pbench.evaluation.evaluators import applicable_groups
from p2pbench.metrics.availability import MetricUnavailableError
from p2pbench.metrics.encoders import (
    ENCODERS,
    EncoderWeightsError,
    encoder_info,
    find_weights,
    missing_packages,
)
from p2pbench.metrics.encoders.inception import find_inception_weights
from p2pbench.metrics.keys import FEATURE_GROUPS, GROUPS, METRICS
from p2pbench.protocols import USER_SEGMENTER_PREFIX, Protocol, resolve


def build_run_spec(
    batch_size: int,
    device: str,
    seed: int,
    quiet: bool,
    exact: bool,
    workers: int,
    fast_math: str | None,
) -> RunSpec:
    """How `eval` and `generate` run, with the command line recorded."""
    return RunSpec(
        batch_size,
        device,
        seed,
        progress=not quiet,
        command=command_line(),
        exact=exact,
        workers=workers,
        fast_math=fast_math,
    )


def resolve_protocol(
    data: str | None,
    protocol: str | None,
    task: str,
    split: str | None,
    direction: str | None,
    segmenter_weights: str | None = None,
) -> Protocol:
    """The protocol of what the user named. An aligned folder with --segmenter-weights from
    `p2pbench fcn train --data` gets FCN-score (`user_fcn_protocol`), else paired metrics."""
    if protocol is None and data is None:
        raise click.UsageError("give --data (synthcity, cityscapes, or a folder) or --protocol")
    if protocol is not None and option_given("task"):
        raise click.UsageError(
            f"--task selects a protocol for --data; --protocol {protocol} fixes it"
        )
    proto = resolve(
        data,
        protocol,
        task=task,
        split=split,
        direction=direction,
        segmenter_weights=segmenter_weights,
    )
    if protocol is not None and data is not None and data != proto.dataset:
        raise click.UsageError(
            f"--data {data} and --protocol {protocol} (dataset {proto.dataset}) disagree; "
            "give one of them"
        )
    check_applies("direction", proto.dataset == "aligned", f"{proto.key} fixes its direction")
    check_applies(
        "data_root", proto.dataset == "cityscapes", f"{proto.key} does not read Cityscapes"
    )
    return proto


def check_eval_options(
    proto: Protocol,
    source: GeneratorFile | ImageFolder | RealImages,
    score: ScoreSpec,
    encoder: EncoderSpec,
) -> None:
    """Options that cannot apply, and metrics required up front (before any work)."""
    check_applies("naming", isinstance(source, ImageFolder), "only --images folders have a naming")
    check_applies("allow_missing", isinstance(source, ImageFolder), "only --images can miss images")
    check_applies("dropout", isinstance(source, GeneratorFile), "only --gen runs a generator")
    applicable = applicable_groups(
        score.metrics, proto.task, real_source=isinstance(source, RealImages)
    )
    groups = {g: g in applicable for g in GROUPS}
    fcn, inception = groups["fcn"], groups["inception"]
    check_applies("per_image", fcn, f"per-image scores are FCN-scores, not computed on {proto.key}")
    segmenter = fcn and proto.task == "labels2photo"
    defines = proto.segmenter.startswith(USER_SEGMENTER_PREFIX)  # the weights made the protocol
    check_applies("segmenter_weights", segmenter or defines, f"{proto.key} runs no segmenter here")
    for name in ("fid_mode", "inception_weights", "reference_stats"):
        check_applies(
            name, inception, f"FID/IS/KID are not computed on {proto.key} with these metrics"
        )
    used = {e for e, _ in encoder.feature_encoders(score.metrics).values()}
    prdc_on = encoder.prdc_encoder if groups["prdc"] else ""
    for name, applies, uses in (
        ("dinov2", groups["dinov2"], "dinov2"),
        ("dinov2_mode", groups["dinov2"] or prdc_on.startswith("dinov2-"), "a DINOv2 encoder"),
        ("cmmd_crop", groups["cmmd"] or prdc_on.startswith("clip-"), "CLIP"),
        ("cmmd_precision", groups["cmmd"], "cmmd"),
        ("prdc_encoder", groups["prdc"], "prdc"),
    ):
        check_applies(name, bool(applies), f"--metrics computes nothing with {uses} on {proto.key}")
    for name, _ in encoder.weights:
        if name not in used:
            raise click.BadParameter(
                f"{name} is not used by the metrics asked for (encoders used: "
                f"{', '.join(sorted(used)) or 'none'})",
                param_hint="--encoder-weights",
            )
    for name in score.require:
        key = {"is": "is_mean", "kid": "kid_mean"}.get(name, name)
        if key not in METRICS:
            raise click.BadParameter(
                f"unknown metric {name!r}; known: is, kid, {', '.join(METRICS)}",
                param_hint="--require",
            )
        group = METRICS[key].group
        if not groups[group]:
            raise click.BadParameter(
                f"{name} is not computed by this evaluation (its group {group!r} is off or does "
                f"not apply to {proto.key})",
                param_hint="--require",
            )
        if group in FEATURE_GROUPS:
            require_encoder(name, *encoder.feature_encoders((group,))[group], encoder)
        if group == "inception" and encoder.reference_stats is None:
            try:
                find_inception_weights(encoder.inception_weights)
            except EncoderWeightsError as e:
                raise MetricUnavailableError(f"--require {name} is unavailable: {e}") from None
    if inception and encoder.reference_stats is None:
        checks.cache_home("FID reference statistics")
    if any(groups[g] for g in FEATURE_GROUPS):
        checks.cache_home("the real images' feature cache")


def parse_encoder_weights(given: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`--encoder-weights NAME=PATH` pairs; a malformed one or an unknown name is an error."""
    pairs = []
    for item in given:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(
                f"expected NAME=PATH, found {item!r}", param_hint="--encoder-weights"
            )
        if name not in ENCODERS.names():
            raise click.BadParameter(
                f"unknown encoder {name!r}; known: {', '.join(ENCODERS.names())}",
                param_hint="--encoder-weights",
            )
        if name == "inception-v3":
            raise click.BadParameter(
                "InceptionV3's weights are given with --inception-weights",
                param_hint="--encoder-weights",
            )
        if not Path(path).expanduser().is_file():
            raise click.BadParameter(f"{name}={path}: not a file", param_hint="--encoder-weights")
        pairs.append((name, path))
    return tuple(pairs)


def require_encoder(metric: str, name: str, mode: str, encoder: EncoderSpec) -> None:
    """A required feature metric whose encoder cannot be built fails before any work."""
    info = encoder_info(name)
    if missing := missing_packages(info):
        raise MetricUnavailableError(
            f"--require {metric} is unavailable: encoder {name} needs {', '.join(missing)} "
            "(pip install 'p2pbench[encoders]')"
        )
    if name == "inception-v3":
        return
    try:
        find_weights(name, info.weights, encoder.weights_for(name))
    except EncoderWeightsError as e:
        raise MetricUnavailableError(f"--require {metric} is unavailable: {e}") from None


def dataset_root(data: str | None, data_root: str | None, protocol: Protocol) -> str | None:
    """Cityscapes' root; an aligned folder is carried by its protocol."""
    return None if protocol.dataset == "aligned" else data_root
