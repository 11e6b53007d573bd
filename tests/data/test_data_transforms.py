"""The paper's jitter: one window and flip for input, target and label; seeded."""

from __future__ import annotations

import pytest
import torch

from p2pbench.data import Jitter, Sample, SynthCityDataset


def _sample(size: int, seed: int = 0) -> Sample:
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 19, (size, size), generator=g)
    image = (label.to(torch.float32) / 127.5 - 1).expand(3, size, size).contiguous()
    return Sample(image, image.clone(), label, "x")


def test_load_size_follows_286_over_256() -> None:
    assert Jitter(256).load == 286 and Jitter(128).load == 143 and Jitter(32).load == 36


def test_input_target_label_move_together() -> None:
    # load_size equal to the sample size: only crop and flip, so image and label stay exact
    jitter = Jitter(size=32, load_size=40)
    flips = set()
    for seed in range(8):
        out = jitter(_sample(40), torch.Generator().manual_seed(seed))
        assert out.input.shape == (3, 32, 32) and out.label.shape == (32, 32)
        assert torch.equal(out.input, out.target)
        assert torch.equal(torch.round((out.input[0] + 1) * 127.5).long(), out.label)
        flips.add(jitter.draw(torch.Generator().manual_seed(seed)).flip)
    assert flips == {True, False}


def test_flip_and_crop_match_the_drawn_parameters() -> None:
    jitter = Jitter(size=32, load_size=40)
    s = _sample(40)
    for seed in range(4):
        p = jitter.draw(torch.Generator().manual_seed(seed))
        out = jitter.apply(s, p)
        window = s.label[p.top : p.top + 32, p.left : p.left + 32]
        assert torch.equal(out.label, window.flip(-1) if p.flip else window)


def test_resize_path_keeps_input_and_target_identical() -> None:
    s = _sample(32)
    for resize in ("bilinear", "bicubic"):
        out = Jitter(32, resize=resize)(s, torch.Generator().manual_seed(1))
        assert out.input.shape == (3, 32, 32) and torch.equal(out.input, out.target)
        assert out.input.abs().max() <= 1.0 and out.label.dtype == torch.int64
        assert set(out.label.unique().tolist()) <= set(s.label.unique().tolist())


def test_reproducible_for_a_seed_and_varies_across_seeds() -> None:
    s, jitter = _sample(32), Jitter(32)
    a = jitter(s, torch.Generator().manual_seed(7))
    b = jitter(s, torch.Generator().manual_seed(7))
    assert torch.equal(a.input, b.input) and torch.equal(a.label, b.label)
    draws = {jitter.draw(torch.Generator().manual_seed(k)) for k in range(10)}
    assert len(draws) > 1


def test_dataset_jitter_is_reproducible_per_epoch() -> None:
    ds = SynthCityDataset(size=32, n=2, transform=Jitter(32))
    first = ds[1].input
    assert torch.equal(first, SynthCityDataset(size=32, n=2, transform=Jitter(32))[1].input)
    changed = False
    for epoch in range(1, 6):
        ds.set_epoch(epoch)
        changed |= not torch.equal(first, ds[1].input)
    assert changed


def test_errors() -> None:
    with pytest.raises(ValueError, match="resize"):
        Jitter(32, resize="nearest")
    s = Sample(
        torch.zeros(3, 8, 8), torch.zeros(3, 8, 8), torch.zeros(16, 16, dtype=torch.int64), "x"
    )
    with pytest.raises(ValueError, match="label on the image grid"):
        Jitter(8)(s, torch.Generator().manual_seed(0))
