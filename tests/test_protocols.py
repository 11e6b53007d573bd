"""Every registered protocol's digest is pinned: changing what a protocol does must bump its
version (old results keep their meaning), and `resolve` picks protocols as the CLI does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from p2pbench.protocols import PROTOCOLS, resolve

PINNED = {
    "pix2pix-2017@v1": "2b9127d6bddb412fb542b5e0d728c368ababe6d00fdd8193c2a3cecd4118c227",
    "pix2pix-2017-fast@v1": "8b8b1342b94c9a352cb3d221dff5fe01e144369bcb71b35c9ad1b505636e9742",
    "pix2pix-2017-lua@v1": "be980e1c6a97f61e163ebbdfcd3e9cc044810a78c7813d597e71a678c8174bd0",
    "pix2pix-2017-photo2labels@v1": (
        "868d3d7b2ca6aacc4dc08f4b80cef5dc0232e5d4755dd016a14ec3342f8ebfed"
    ),
    "synthcity@v1": "2656517323162af99565836b759da82eb883a317efc31b7b6421caba2f491f14",
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
    p = PROTOCOLS.get("synthcity")
    assert dataclasses.replace(p, data_path="/elsewhere").digest() == p.digest()
    assert dataclasses.replace(p, test_time_mode="eval").digest() != p.digest()
    assert dataclasses.replace(p, image_size=128).digest() != p.digest()


def test_resolve_follows_data_task_and_protocol(tmp_path: Path) -> None:
    assert resolve("synthcity").key == "synthcity@v1"
    assert resolve("cityscapes").name == "pix2pix-2017"
    assert resolve("cityscapes", task="photo2labels").name == "pix2pix-2017-photo2labels"
    assert resolve("synthcity", "pix2pix-2017-fast").name == "pix2pix-2017-fast"
    with pytest.raises(ValueError, match="give a dataset"):
        resolve()
    with pytest.raises(KeyError, match="valid names"):
        resolve(protocol="nope")
