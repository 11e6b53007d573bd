"""Every registered protocol's digest is pinned: changing what a protocol does must bump its
version (old results keep their meaning), and `resolve` picks protocols as the CLI does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from p2pbench.evaluation import ScoreSpec, evaluate
from p2pbench.protocols import PROTOCOLS, get_protocol, protocol_names, resolve

PINNED = {
    "pix2pix-2017@v1": "2b9127d6bddb412fb542b5e0d728c368ababe6d00fdd8193c2a3cecd4118c227",
    "pix2pix-2017-fast@v1": "8b8b1342b94c9a352cb3d221dff5fe01e144369bcb71b35c9ad1b505636e9742",
    "pix2pix-2017-lua@v1": "be980e1c6a97f61e163ebbdfcd3e9cc044810a78c7813d597e71a678c8174bd0",
    "pix2pix-2017-photo2labels@v1": (
        "868d3d7b2ca6aacc4dc08f4b80cef5dc0232e5d4755dd016a14ec3342f8ebfed"
    ),
    "synthcity@v1": "2656517323162af99565836b759da82eb883a317efc31b7b6421caba2f491f14",
    "synthcity@v2": "f8f52fb6b0b5e04b160fff3dd843481621e41e9f27d0da79463d2475585febf4",
    "synthcity-photo2labels@v1": (
        "8d596673b22d9119dd2b613bb38da9f52053730c4a6ac99da39c919fcb44c1d9"
    ),
}


def test_every_registered_protocol_is_pinned() -> None:
    registered = {PROTOCOLS.get(n).key: PROTOCOLS.get(n).digest() for n in PROTOCOLS.names()}
    assert set(registered) == set(PINNED), "a protocol was added or removed: pin its digest"
    changed = {k: v for k, v in registered.items() if v != PINNED[k]}
    assert not changed, (
        f"{sorted(changed)} changed: a protocol's fields define its numbers; register the "
        "change as a new version (name@v<N+1>) and pin that"
    )


def test_every_field_but_the_data_path_moves_the_digest() -> None:
    p = get_protocol("synthcity")
    assert dataclasses.replace(p, data_path="/elsewhere").digest() == p.digest()
    assert dataclasses.replace(p, dataset_version=3).digest() != p.digest()
    assert dataclasses.replace(p, test_time_mode="eval").digest() != p.digest()
    assert dataclasses.replace(p, image_size=64).digest() != p.digest()


def test_resolve_follows_data_task_and_protocol(tmp_path: Path) -> None:
    assert resolve("synthcity").key == "synthcity@v2"  # a bare name: the newest version
    assert resolve(protocol="synthcity@v1").key == "synthcity@v1"
    assert resolve(protocol="synthcity").key == "synthcity@v2"
    assert resolve("synthcity", task="photo2labels").key == "synthcity-photo2labels@v1"
    assert resolve("cityscapes").name == "pix2pix-2017"
    assert resolve("cityscapes", task="photo2labels").name == "pix2pix-2017-photo2labels"
    assert resolve("synthcity", "pix2pix-2017-fast").name == "pix2pix-2017-fast"
    with pytest.raises(ValueError, match="give a dataset"):
        resolve()
    with pytest.raises(KeyError, match="valid names"):
        resolve(protocol="nope")


def test_a_field_added_later_keeps_old_digests_while_at_its_default() -> None:
    v1 = get_protocol("synthcity@v1")
    assert v1.dataset_version == 1 and "dataset_version" in v1.as_dict()
    assert v1.digest() == PINNED["synthcity@v1"]  # the digest from before the field existed


def test_protocol_names_offer_bare_names_and_keys() -> None:
    names = protocol_names()
    assert {"synthcity", "synthcity@v1", "synthcity@v2", "pix2pix-2017"} <= set(names)
    with pytest.raises(KeyError, match="valid names"):
        get_protocol("synthcity@v7")


def test_synthcity_photo2labels_scores_the_real_label_maps_perfectly() -> None:
    # the real colour label maps decode to their own classes: every pixel is right
    score = ScoreSpec(metrics=("fcn",), limit=8)
    result = evaluate(None, protocol="synthcity-photo2labels", score=score)
    assert result.task == "photo2labels" and result.n_images == 8
    assert result.metrics["per_pixel_acc"] == pytest.approx(1.0, abs=1e-9)
