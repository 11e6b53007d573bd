"""Batches of given sample indices, decoded and resized in worker processes when asked."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DataLoader

from p2pbench.data.sample import Batch, PairedDataset, collate_samples


def load_batches(
    dataset: PairedDataset,
    index_batches: Sequence[Sequence[int]],
    *,
    workers: int = 0,
    pin_memory: bool = False,
) -> Iterator[Batch]:
    """One `Batch` per list of indices, in order. With `workers` processes the next batches
    are read while the current one is used (two per worker ahead); the batches are the same."""
    if workers == 0:
        for indices in index_batches:
            yield collate_samples([dataset[i] for i in indices])
        return
    loader = DataLoader(
        dataset,
        batch_sampler=[list(b) for b in index_batches],
        num_workers=workers,
        collate_fn=collate_samples,
        pin_memory=pin_memory,
        prefetch_factor=2,
        generator=torch.Generator().manual_seed(0),  # never draw from the global stream
    )
    yield from loader
