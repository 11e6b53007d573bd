"""Which metric groups apply, decided once for `build_evaluators` and the CLI's checks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from p2pbench.cli import main
from p2pbench.evaluation.evaluators import applicable_groups
from p2pbench.metrics.keys import GROUPS

# written out by hand from what each group needs: label maps, a generated image, photos
EXPECTED = {
    ("labels2photo", False): {"fcn", "paired", "inception", "dinov2", "cmmd", "prdc"},
    ("labels2photo", True): {"fcn", "inception", "dinov2", "cmmd", "prdc"},
    ("photo2labels", False): {"fcn", "paired"},
    ("photo2labels", True): {"fcn"},
    ("paired", False): {"paired", "inception", "dinov2", "cmmd", "prdc"},
    ("paired", True): {"inception", "dinov2", "cmmd", "prdc"},
}


@pytest.mark.parametrize(("task", "real"), list(EXPECTED))
def test_each_group_applies_where_its_inputs_exist(task: str, real: bool) -> None:
    assert set(applicable_groups(GROUPS, task, real_source=real)) == EXPECTED[task, real]


def test_only_the_groups_asked_for_in_the_registry_order() -> None:
    asked = ("prdc", "fcn", "paired")
    assert applicable_groups(asked, "labels2photo", real_source=False) == ("fcn", "paired", "prdc")
    assert applicable_groups(asked, "photo2labels", real_source=True) == ("fcn",)
    assert applicable_groups((), "labels2photo", real_source=False) == ()


def test_the_cli_refuses_an_option_of_a_group_that_does_not_apply() -> None:
    # photo2labels computes no FID: --fid-mode has no effect, before any work
    res = CliRunner().invoke(
        main,
        ["eval", "--real", "--data", "synthcity", "--task", "photo2labels", "--fid-mode", "clean"],
    )
    assert res.exit_code == 2, res.output
    assert "--fid-mode has no effect here" in res.output
