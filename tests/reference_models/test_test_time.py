"""The paper's test-time mode: per-sample statistics and per-sample seeded dropout."""

from __future__ import annotations

import pytest
import torch

from reference_models import build_generator, generation_mode, sample_seed, translate
from reference_models.layers import SampleDropout

IDS = [f"frame{i}" for i in range(4)]


@pytest.mark.parametrize("name", ["unet32", "encdec32", "resnet6"])
def test_paper_mode_output_does_not_depend_on_the_batch(name: str) -> None:
    g = build_generator(name, ngf=4, seed=3)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    batch = translate(g, x, mode="paper", sample_ids=IDS, seed=7)
    for i in range(4):
        alone = translate(g, x[i : i + 1], mode="paper", sample_ids=IDS[i : i + 1], seed=7)
        torch.testing.assert_close(alone[0], batch[i], atol=1e-5, rtol=0)
    shuffled = translate(g, x.flip(0), mode="paper", sample_ids=IDS[::-1], seed=7)
    torch.testing.assert_close(shuffled.flip(0), batch, atol=1e-5, rtol=0)


def test_paper_mode_equals_training_mode_at_batch_one_without_dropout() -> None:
    # Independent reference: plain batch norm in training mode on a batch of one.
    g = build_generator("unet64", ngf=4, dropout=False, seed=1)
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    ours = translate(g, x, mode="paper", sample_ids=IDS[:3])
    running = {k: v.clone() for k, v in g.state_dict().items()}
    g.train()
    with torch.no_grad():
        reference = torch.cat([g(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)
    g.load_state_dict(running)


def test_paper_mode_leaves_running_statistics_and_training_flag_alone() -> None:
    g = build_generator("unet32", ngf=4)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    g.train()
    translate(g, torch.rand(2, 3, 32, 32), mode="paper", sample_ids=IDS[:2])
    assert g.training
    after = g.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_dropout_is_seeded_per_sample_and_on_in_paper_mode() -> None:
    g = build_generator("unet32", ngf=4)
    x = torch.rand(1, 3, 32, 32).repeat(2, 1, 1, 1)
    same = translate(g, x, mode="paper", sample_ids=["a", "a"], seed=0)
    torch.testing.assert_close(same[0], same[1])
    diff = translate(g, x, mode="paper", sample_ids=["a", "b"], seed=0)
    assert not torch.allclose(diff[0], diff[1])
    reseeded = translate(g, x[:1], mode="paper", sample_ids=["a"], seed=1)
    assert not torch.allclose(reseeded[0], same[0])
    no_dropout = build_generator("unet32", ngf=4, dropout=False)
    a = translate(no_dropout, x, mode="paper", sample_ids=["a", "b"])
    torch.testing.assert_close(a[0], a[1])


def test_sample_dropout_rate_and_scaling() -> None:
    layer = SampleDropout(0.5)
    layer.sample_generators = [torch.Generator().manual_seed(sample_seed(0, "x"))]
    y = layer(torch.ones(1, 64, 64, 64))
    zero_fraction = (y == 0).float().mean().item()
    assert abs(zero_fraction - 0.5) < 0.01  # 262,144 Bernoulli draws: std 0.001
    assert set(y.unique().tolist()) == {0.0, 2.0}


def test_eval_mode_is_module_eval() -> None:
    g = build_generator("unet32", ngf=4)
    x = torch.rand(2, 3, 32, 32)
    ours = translate(g, x, mode="eval", sample_ids=IDS[:2])
    g.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours, g(x))


def test_unknown_mode_and_missing_ids() -> None:
    g = build_generator("unet32", ngf=2)
    with pytest.raises(ValueError, match="paper, eval"):
        with generation_mode(g, "train"):
            pass
    with pytest.raises(ValueError, match="sample ids"):
        translate(g, torch.zeros(2, 3, 32, 32), mode="paper", sample_ids=["a"])


def test_sample_seed_is_stable() -> None:
    assert sample_seed(0, "a") == sample_seed(0, "a")
    assert sample_seed(0, "a") != sample_seed(1, "a") != sample_seed(0, "b")
    assert 0 <= sample_seed(123, "frankfurt_000000_000294") < 2**63
