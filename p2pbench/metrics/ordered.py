"""A metric state that keeps per-sample feature vectors and returns them in sample-id order.

IS and KID need every feature vector, not just sums, and both shuffle with a seeded RNG, so the
order of the vectors changes the numbers. Each vector is stored next to its sample index; after
torchmetrics gathers the states of all processes (in rank order), `ordered` sorts by that index,
so the result depends neither on the batch size nor on the number of processes, and a sample
seen twice (e.g. `DistributedSampler` padding) is an error instead of a silent bias.

Storage: a list state of float64 1-D tensors, each a flattened block of rows
``[index, f_1 ... f_d]``. One flat state keeps index and features together and lets
torchmetrics gather blocks of different lengths, including from a rank that saw no sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat


class OrderedFeaturesMetric(Metric):
    """Base class: `_add_records_state(name)` in `__init__`, `_append`, then `_ordered`."""

    full_state_update = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._widths: dict[str, int] = {}

    def _add_records_state(self, name: str, width: int) -> None:
        self.add_state(name, [], dist_reduce_fx="cat")
        self._widths[name] = width
        self.set_dtype(torch.float64)  # an empty rank's placeholder must match the others' dtype

    def _append(self, name: str, features: Tensor, indices: Tensor | Sequence[int]) -> None:
        width = self._widths[name]
        idx = torch.as_tensor(indices, dtype=torch.float64, device=features.device).reshape(-1)
        if features.ndim != 2 or features.shape[1] != width or features.shape[0] != idx.numel():
            raise ValueError(
                f"expected N×{width} features with N sample indices, found features of shape "
                f"{tuple(features.shape)} and {idx.numel()} indices"
            )
        if idx.numel() and (idx.min() < 0 or idx.max() >= 2**53):
            raise ValueError("sample indices must be integers in [0, 2**53)")
        rows = torch.cat([idx[:, None], features.detach().to(torch.float64)], dim=1)
        getattr(self, name).append(rows.reshape(-1))

    def _ordered(self, name: str) -> Tensor:
        """Every stored feature vector (all processes after sync), sorted by sample index."""
        state = getattr(self, name)
        width = self._widths[name]
        flat = dim_zero_cat(state) if isinstance(state, list) and state else state
        if isinstance(flat, list) or flat.numel() == 0:
            return torch.zeros(0, width, dtype=torch.float64)
        rows = flat.to(torch.float64).reshape(-1, width + 1).cpu()
        index = rows[:, 0].to(torch.int64)
        order = torch.argsort(index, stable=True)
        index = index[order]
        if index.numel() > 1 and bool((index[1:] == index[:-1]).any()):
            dup = sorted(set(index[1:][index[1:] == index[:-1]].tolist()))[:10]
            raise ValueError(
                f"{name}: sample indices seen more than once (first: {dup}); each sample must be "
                f"scored exactly once (DistributedSampler pads shards: use contiguous shards)"
            )
        return rows[order, 1:]
