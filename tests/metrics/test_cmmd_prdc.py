"""CMMD and precision/recall/density/coverage against closed forms, a brute-force reading of the
papers' definitions, and torch-fidelity's precision/recall."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch_fidelity.metric_prc import calculate_precision_recall_full

from p2pbench.errors import InvalidValueError
from p2pbench.metrics.cmmd import cmmd
from p2pbench.metrics.prdc import SMALL_SAMPLE, prdc


def _unit(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)) + shift
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- CMMD --------------------------------------------------------------------------------------


def test_cmmd_of_two_points_is_the_closed_form() -> None:
    a, b = np.array([[0.6, 0.8, 0.0]]), np.array([[0.0, 0.6, 0.8]])
    squared = float(((a - b) ** 2).sum())
    expected = 1000 * (2 - 2 * math.exp(-squared / (2 * 10**2)))
    assert cmmd(real=a, fake=b) == pytest.approx(expected, rel=1e-12)


def test_cmmd_of_a_set_against_itself_is_zero_and_it_grows_with_a_shift() -> None:
    x = _unit(50, 16, 0)
    assert abs(cmmd(real=x, fake=x)) < 1e-9
    near, far = cmmd(real=x, fake=_unit(60, 16, 1, 0.1)), cmmd(real=x, fake=_unit(60, 16, 1, 1.0))
    assert 0 < near < far


def test_cmmd_equals_the_pairwise_definition_and_uses_every_sample() -> None:
    x, y = _unit(33, 8, 2), _unit(21, 8, 3, 0.3)  # 33: a partial last batch of 32 counts too

    def mean_k(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean([[math.exp(-np.sum((p - q) ** 2) / 200) for q in b] for p in a]))

    expected = 1000 * (mean_k(x, x) + mean_k(y, y) - 2 * mean_k(x, y))
    assert cmmd(real=x, fake=y) == pytest.approx(expected, rel=1e-9)
    assert cmmd(real=x, fake=y) != pytest.approx(cmmd(real=x[:32], fake=y), rel=1e-6)


def test_cmmd_takes_keywords_and_refuses_bad_input() -> None:
    x = _unit(4, 3, 0)
    with pytest.raises(TypeError):
        cmmd(x, x)  # type: ignore[misc]
    with pytest.raises(ValueError, match="3-d but fake ones 4-d"):
        cmmd(real=x, fake=_unit(4, 4, 0))
    with pytest.raises(ValueError, match="NaN"):
        cmmd(real=x, fake=np.full((2, 3), np.nan))
    with pytest.raises(InvalidValueError, match="unknown CMMD precision 'float16'"):
        cmmd(real=x, fake=x, precision="float16")


def test_cmmd_float32_is_the_pairwise_definition_to_float32_rounding() -> None:
    x, y = _unit(33, 8, 2), _unit(21, 8, 3, 0.3)
    exact = cmmd(real=x, fake=y)
    single = cmmd(real=x, fake=y, precision="float32")
    # float32 rounding of kernel means near 1, times 1000: a few 1e-4 absolute at most
    assert single == pytest.approx(exact, abs=5e-4)
    assert single != exact
    assert cmmd(real=x.astype(np.float32), fake=y, precision="float64") != single


# --- precision, recall, density, coverage --------------------------------------------------


def _line(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=np.float64)[:, None]


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
def test_a_lattice_against_itself_and_shifted_by_half_a_step() -> None:
    """Real points 0…9 on a line, k = 1: every ball has radius 1."""
    real = _line(list(range(10)))
    same = prdc(real=real, fake=real, k=1)
    assert (same.precision, same.recall, same.density, same.coverage) == (1, 1, 1, 1)
    # inclusive: fake j lies in the balls of j - 1, j, j + 1 (2 at the ends): (2·2 + 8·3)/10
    assert prdc(real=real, fake=real, k=1, ties="inclusive").density == pytest.approx(2.8)
    half = prdc(real=real, fake=real + 0.5, k=1)  # j + ½ in the balls of j and j + 1 (not 10)
    assert (half.precision, half.recall, half.coverage) == (1, 1, 1)
    assert half.density == pytest.approx((2 * 9 + 1) / 10)
    far = prdc(real=real, fake=real + 100, k=1)
    assert (far.precision, far.recall, far.density, far.coverage) == (0, 0, 0, 0)


def _brute_force(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, ...]:
    """The papers' definitions read literally, with strict inequalities."""

    def radius(points: np.ndarray, i: int) -> float:
        others = [float(np.linalg.norm(points[i] - p)) for j, p in enumerate(points) if j != i]
        return sorted(others)[k - 1]

    n, m = len(real), len(fake)
    r_real = [radius(real, i) for i in range(n)]
    r_fake = [radius(fake, j) for j in range(m)]
    dist = np.array([[np.linalg.norm(p - q) for q in fake] for p in real])
    precision = np.mean([any(dist[i, j] < r_real[i] for i in range(n)) for j in range(m)])
    recall = np.mean([any(dist[i, j] < r_fake[j] for j in range(m)) for i in range(n)])
    density = np.mean([sum(dist[i, j] < r_real[i] for i in range(n)) for j in range(m)]) / k
    coverage = np.mean([dist[i].min() < r_real[i] for i in range(n)])
    return float(precision), float(recall), float(density), float(coverage)


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
def test_prdc_equals_the_definitions_read_literally() -> None:
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(40, 5)), rng.normal(0.3, 1.2, size=(30, 5))
    got = prdc(real=real, fake=fake, k=5)
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(
        _brute_force(real, fake, 5), abs=1e-12
    )


@pytest.mark.filterwarnings("ignore:precision/recall/density/coverage")
def test_precision_and_recall_equal_torch_fidelity_with_its_conventions() -> None:
    """torch-fidelity: k = 3, distance ≤ radius, its first input the generated set."""
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(120, 16)), rng.normal(0.4, 1.0, size=(90, 16))
    ours = prdc(real=real, fake=fake, k=3, ties="inclusive")
    f32 = (torch.from_numpy(fake).float(), torch.from_numpy(real).float())
    theirs = calculate_precision_recall_full(*f32, neighborhood=3)
    assert 0 < ours.precision < 1 and 0 < ours.recall < 1
    # the same counts; torch-fidelity takes their mean in float32 (1e-6 is 1/10 of one sample)
    assert ours.precision == pytest.approx(theirs[0], abs=1e-6)
    assert ours.recall == pytest.approx(theirs[1], abs=1e-6)
    swapped = prdc(real=fake, fake=real, k=3, ties="inclusive")
    assert (swapped.precision, swapped.recall) != (ours.precision, ours.recall)


def test_prdc_takes_keywords_warns_on_small_samples_and_refuses_too_few() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(TypeError):
        prdc(x, x)  # type: ignore[misc]
    with pytest.warns(UserWarning, match=f"fewer than {SMALL_SAMPLE}"):
        prdc(real=x, fake=x, k=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="5 samples cannot give a 5-th nearest neighbour"):
            prdc(real=x, fake=x[:5], k=5)
        with pytest.raises(ValueError, match="tie rule"):
            prdc(real=x, fake=x, ties="loose")
