"""The shipped synthcity segmenters never saw a scored scene, and their recipes are replayable."""

from __future__ import annotations

import hashlib

import pytest

from fcn.weights import read_converted
from p2pbench.data import synthcity_arrays
from p2pbench.data.synthcity.dataset import SYNTHCITY_SPLITS
from p2pbench.evaluation.segmenters import SEGMENTERS, WEIGHTS_DIR
from p2pbench.protocols import PROTOCOLS
from p2pbench.train.segmenter import RECIPES, replay_recipe


def _synthcity_protocols():
    for key in PROTOCOLS.names():
        p = PROTOCOLS.get(key)
        if p.dataset == "synthcity" and p.segmenter in RECIPES:
            yield p


@pytest.mark.slow
@pytest.mark.parametrize("protocol", list(_synthcity_protocols()), ids=lambda p: p.key)
def test_training_scenes_are_disjoint_from_the_scored_scenes(protocol) -> None:
    recipe = RECIPES[protocol.segmenter].data
    assert recipe.version == protocol.dataset_version
    # scenes are drawn from default_rng([seed, split, index, ...]): different keys...
    train_keys = {(recipe.data_seed, SYNTHCITY_SPLITS["train"], i) for i in range(recipe.n_train)}
    val_keys = {
        (protocol.dataset_seed, SYNTHCITY_SPLITS[protocol.split], i)
        for i in range(protocol.expected_images)
    }
    assert not train_keys & val_keys

    # ... and no scored label map equals a training one (layouts compared at 32 px)
    def digest(seed: int, split: str, i: int) -> str:
        _, ids = synthcity_arrays(seed, split, i, 32, protocol.dataset_version)
        return hashlib.sha256(ids.tobytes()).hexdigest()

    train = {digest(recipe.data_seed, "train", i) for i in range(recipe.n_train)}
    val = {
        digest(protocol.dataset_seed, protocol.split, i) for i in range(protocol.expected_images)
    }
    assert len(val) == protocol.expected_images and not train & val


def test_every_shipped_segmenter_is_pinned_and_present() -> None:
    for name in SEGMENTERS.names():
        spec = SEGMENTERS.get(name)
        if spec.shipped_file is None:
            continue
        assert spec.sha256 is not None, f"{name} ships weights without a pinned sha256"
        assert (WEIGHTS_DIR / spec.shipped_file).is_file()
        assert name in RECIPES, f"{name} ships weights without a recipe to reproduce them"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_shipped_file_records_the_recipe_that_replays_it(name: str) -> None:
    spec = SEGMENTERS.get(name)
    assert spec.shipped_file is not None
    recorded = dict(read_converted(WEIGHTS_DIR / spec.shipped_file, mmap=True).source["trained"])
    assert recorded.pop("final_loss") > 0
    recorded["synthcity_version"] = int(recorded["synthcity_version"])  # "1" in the older file
    training = replay_recipe(name, spec.arch)
    expected = {
        **training.data.description(),
        **training.options.as_dict(),
        "segmenter": name,
    }
    assert recorded == expected
    assert training.arch == spec.arch
