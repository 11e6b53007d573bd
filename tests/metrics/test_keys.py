"""The metric vocabulary (`p2pbench.metrics.keys`) agrees with everything that uses it: what the
evaluators write, the table columns, and the directions `check` compares by."""

from __future__ import annotations

import pytest

from p2pbench.evaluation import RunSpec, ScoreSpec, evaluate
from p2pbench.metrics import keys
from p2pbench.metrics.keys import GROUPS, HIGHER, LOWER, METRICS, RANKED, group_metrics
from p2pbench.reporting import check
from p2pbench.reporting.tables import build_table, render_table
from p2pbench.results import Result
from reference_models import build_generator


def _evaluate(metrics: tuple[str, ...]) -> Result:
    # an untrained tiny generator: the paired metrics need generated images, not the real ones
    return evaluate(
        build_generator("unet64", seed=3, ngf=4),
        protocol="synthcity@v1",
        score=ScoreSpec(limit=4, metrics=metrics),
        run=RunSpec(progress=False),
    )


@pytest.fixture(scope="module")
def fcn_paired() -> Result:
    return _evaluate(("fcn", "paired"))


def test_every_key_is_well_formed() -> None:
    assert all(name == key.name for name, key in METRICS.items())
    assert all(key.group in GROUPS and key.label for key in METRICS.values())
    assert all(METRICS[m].direction in (HIGHER, LOWER) for m in RANKED)
    assert RANKED == tuple(m for m, key in METRICS.items() if key.direction is not None)
    assert all(key.direction is None for m, key in METRICS.items() if m not in RANKED)
    assert METRICS["lpips"].direction == LOWER and "lpips" in RANKED
    assert sorted(m for g in GROUPS for m in group_metrics(g)) == sorted(METRICS)
    with pytest.raises(KeyError, match="unknown metric group"):
        group_metrics("fid")
    with pytest.raises(KeyError, match="unknown metric 'iou'"):
        keys.metric_key("iou")


def test_check_directions_agree_with_keys() -> None:
    assert list(check.DIRECTIONS) == list(RANKED)
    assert check.DIRECTIONS == {m: METRICS[m].direction for m in RANKED}
    assert (check.HIGHER, check.LOWER) == (HIGHER, LOWER)


def test_table_columns_follow_keys_order_labels_and_directions(fcn_paired: Result) -> None:
    data = fcn_paired.to_dict()
    every = {**data["metrics"], **{m: 0.5 for m in RANKED}}  # a number for every ranked metric
    full = Result.from_dict({**data, "metrics": every})
    table = build_table([full])
    assert table.metrics == RANKED
    assert table.directions == {m: METRICS[m].direction for m in RANKED}
    header = next(
        line for line in render_table(table, "md").splitlines() if line.startswith("| variant")
    )
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == ["variant", "n", *(f"{METRICS[m].label} {METRICS[m].arrow}" for m in RANKED)]
    # a result's own metrics: the ranked ones it has a number for, in the keys' order
    own = build_table([fcn_paired]).metrics
    assert own == tuple(m for m in RANKED if fcn_paired.value(m) is not None)


def test_evaluated_keys_are_known_and_come_from_their_group(fcn_paired: Result) -> None:
    written = set(fcn_paired.metrics)
    assert written <= set(METRICS)
    assert written <= set(group_metrics("fcn")) | set(group_metrics("paired"))
    # every key of both groups is written (a metric that cannot be computed says so)
    assert written == set(group_metrics("fcn")) | set(group_metrics("paired"))
    for group in ("fcn", "paired"):
        alone = _evaluate((group,))
        assert set(alone.metrics) == set(group_metrics(group)), group
        for m in group_metrics(group):
            assert alone.metrics[m] == fcn_paired.metrics[m], m  # the same evaluator's numbers


def test_the_feature_metrics_have_directions_and_are_opt_in() -> None:
    from p2pbench.metrics.keys import DEFAULT_GROUPS, FEATURE_GROUPS

    assert {m: METRICS[m].direction for m in ("fd_dinov2", "cmmd")} == {
        "fd_dinov2": LOWER,
        "cmmd": LOWER,
    }
    assert all(METRICS[m].direction == HIGHER for m in group_metrics("prdc"))
    assert set(FEATURE_GROUPS) <= set(GROUPS) and not set(FEATURE_GROUPS) & set(DEFAULT_GROUPS)
