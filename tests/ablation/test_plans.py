"""Ablation plans: the variants of each paper table, the refusals, and the options' checks."""

from __future__ import annotations

import pytest

from p2pbench.ablation import PLANS, AblationOptions, Plan, Variant, plan_runs


def _plan(name: str, **options: object):
    return plan_runs(PLANS.get(name), AblationOptions(**options))  # type: ignore[arg-type]


def test_receptive_field_at_128_plans_all_four_discriminators_per_seed() -> None:
    planned = _plan("receptive-field", steps=10, seeds=(0, 1))
    assert planned.protocol.key == "synthcity@v2" and not planned.refused
    assert [r.run_id for r in planned.runs] == [
        f"patch{n}-seed{s}" for n in (1, 16, 70, 286) for s in (0, 1)
    ]
    for run in planned.runs:
        c = run.config
        assert (c.generator, c.loss, c.size, c.max_steps, c.seed) == (
            "unet128",
            "l1+cgan",
            128,
            10,
            run.seed,
        )
        assert c.discriminator == run.variant and c.data == "synthcity@v2"
        assert c.direction == "BtoA" and not c.bottleneck_norm


def test_variants_that_cannot_work_at_the_size_are_refused_with_the_reason() -> None:
    planned = _plan("receptive-field", protocol="synthcity@v1", steps=5)
    assert planned.protocol.image_size == 64
    (refused,) = planned.refused
    assert refused[0] == "patch286" and "96" in refused[1]
    assert {r.variant for r in planned.runs} == {"patch1", "patch16", "patch70"}


def test_a_refused_reference_stops_the_plan() -> None:
    plan = Plan(
        name="t",
        title="t",
        paper_table="pix2pix-2017:table3",
        task="labels2photo",
        reference_variant="big",
        variants=(
            Variant("small", "small", {"discriminator": "patch16"}),
            Variant("big", "big", {"discriminator": "patch286"}),
        ),
    )
    with pytest.raises(ValueError, match="reference variant big .* cannot run: .*96"):
        plan_runs(plan, AblationOptions(protocol="synthcity@v1", steps=1))


def test_loss_generator_and_photo2labels_plans_follow_the_paper_tables() -> None:
    loss = _plan("loss", steps=1)
    assert [v.name for v in loss.variants()] == ["l1", "gan", "cgan", "l1+gan", "l1+cgan"]
    assert {r.config.loss for r in loss.runs} == {"l1", "gan", "cgan", "l1+gan", "l1+cgan"}
    generator = _plan("generator", steps=1)
    assert {(r.config.generator, r.config.loss) for r in generator.runs} == {
        ("encdec128", "l1"),
        ("encdec128", "l1+cgan"),
        ("unet128", "l1"),
        ("unet128", "l1+cgan"),
    }
    assert {r.config.batch_size for r in generator.runs} == {10}  # the paper's Table 2
    assert {r.config.batch_size for r in _plan("generator", steps=1, batch_size=2).runs} == {2}
    p2l = _plan("photo2labels", steps=1)
    assert p2l.protocol.key == "synthcity-photo2labels@v1"
    assert {r.config.direction for r in p2l.runs} == {"AtoB"}
    paper = _plan("generator", steps=1, paper_networks=True)
    assert all(r.config.bottleneck_norm for r in paper.runs) and "paper-era" in paper.networks


@pytest.mark.parametrize(
    "options, match",
    [
        ({"steps": 1, "epochs": 1}, "not both"),
        ({"steps": 0}, "steps must be at least 1"),
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (1, 1)}, "distinct"),
        ({"size": 64}, "does not match protocol synthcity@v2"),
        ({"protocol": "pix2pix-2017-photo2labels"}, "photo2labels"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _plan("receptive-field", **options)
