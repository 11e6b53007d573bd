"""The training batches, step by step: which samples a step takes is a function of the step alone.

Step s of a run lies in epoch s // steps_per_epoch; the epoch visits the samples in a seeded
order (`epoch_order`) and its jitter is seeded per (seed, epoch, index), so a batch is the same
whether it is built in the main process or in a DataLoader worker, and a resumed run continues
with the batch the uninterrupted run would have taken.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from p2pbench.data import Batch, PairedDataset, collate_samples, sample_generator
from p2pbench.distributed import shard_range


def epoch_order(seed: int, epoch: int, n: int) -> list[int]:
    """The seeded order in which an epoch visits the n training samples."""
    return torch.randperm(n, generator=sample_generator(seed, epoch, -1)).tolist()


class StepBatches(Dataset[tuple[Batch, int]]):
    """Item `step`: this process's shard of the batch of that (0-based) step, and the size of
    the global batch it is a shard of."""

    def __init__(
        self, data: PairedDataset, *, seed: int, batch_size: int, rank: int = 0, world: int = 1
    ) -> None:
        self.data, self.seed, self.batch_size = data, seed, batch_size
        self.rank, self.world = rank, world
        self.steps_per_epoch = -(-len(data) // batch_size)
        self._order: tuple[int, list[int]] | None = None  # (epoch, its order), reused

    def indices(self, step: int) -> list[int]:
        """The dataset indices of the global batch of `step`."""
        epoch, position = divmod(step, self.steps_per_epoch)
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(self.seed, epoch, len(self.data)))
        start = position * self.batch_size
        return self._order[1][start : start + self.batch_size]

    def __len__(self) -> int:  # steps are unbounded; the sampler says which are taken
        raise TypeError("StepBatches is indexed by step; iterate it with `batches`")

    def __getitem__(self, step: int) -> tuple[Batch, int]:
        indices = self.indices(step)
        mine = [indices[i] for i in shard_range(len(indices), self.rank, self.world)]
        self.data.set_epoch(step // self.steps_per_epoch)
        return collate_samples([self.data[i] for i in mine]), len(indices)


def batches(
    steps: StepBatches, start: int, stop: int, *, workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[Batch, int]]:
    """The batches of steps start … stop - 1, in order, built by `workers` processes (0: here).

    With workers the next batches are built while the current step runs (two per worker
    ahead); each worker builds whole batches, so the numbers are those of `workers=0`.
    """
    if workers == 0:
        for step in range(start, stop):
            yield steps[step]
        return
    loader = DataLoader(
        steps,
        batch_size=None,
        sampler=range(start, stop),
        num_workers=workers,
        collate_fn=_as_is,
        pin_memory=pin_memory,
        prefetch_factor=2,
        # its own generator: seeding the workers must not draw from the global stream that
        # drives dropout (else a run with workers would differ from one without)
        generator=torch.Generator().manual_seed(0),
    )
    yield from loader


def _as_is(item: tuple[Batch, int]) -> tuple[Batch, int]:
    return item
