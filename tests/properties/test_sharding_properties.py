"""Property tests of ``p2pbench.distributed.shard_range``: contiguous shards without padding."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pbench.distributed import shard_range

sizes = st.integers(0, 2000) | st.integers(0, 40)  # small n (n < world) drawn often


@settings(max_examples=200)
@given(n=sizes, world=st.integers(1, 16))
def test_shards_partition_range_in_order(n: int, world: int) -> None:
    shards = [shard_range(n, rank, world) for rank in range(world)]
    assert all(isinstance(s, range) and s.step == 1 for s in shards)  # contiguous
    # in rank order, each starting where the previous one stopped: disjoint, no gaps
    assert shards[0].start == 0 and shards[-1].stop == n
    for prev, nxt in zip(shards, shards[1:], strict=False):
        assert prev.stop == nxt.start
    # every index exactly once, no padding
    flat = [i for s in shards for i in s]
    assert flat == list(range(n))
    lengths = [len(s) for s in shards]
    assert sum(lengths) == n
    assert max(lengths) - min(lengths) <= 1
    assert set(lengths) <= {n // world, -(-n // world)}


@given(n=sizes, world=st.integers(1, 16), k=st.integers(-20, 20))
def test_invalid_rank_raises(n: int, world: int, k: int) -> None:
    bad = k if k < 0 else world + k  # rank < 0 or rank >= world
    with pytest.raises(ValueError, match="outside world size"):
        shard_range(n, bad, world)


@given(n=sizes, rank=st.integers(-3, 3), world=st.integers(-3, 0))
def test_non_positive_world_raises(n: int, rank: int, world: int) -> None:
    with pytest.raises(ValueError):
        shard_range(n, rank, world)
