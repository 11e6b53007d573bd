"""Training on several processes (`torchrun --nproc_per_node=N -m p2pbench train ...`).

Semantics, chosen so that a run means the same thing whatever the number of processes:

- **Batch.** `--batch-size` is the *global* batch. Step s takes the same samples as on one
  process (the seeded epoch order), and rank r of w takes the contiguous shard
  [r·B // w, (r+1)·B // w) of them. Steps, epochs, the learning-rate schedule and the data
  order do not depend on w. Each rank's losses are scaled by w·b_r / B (b_r: its shard size;
  1 for equal shards) before DistributedDataParallel averages the gradients, so the update is
  that of the mean loss over the global batch, as on one process. `--batch-size` must be at
  least w, and the last (short) batch of an epoch must still give every rank a sample.
- **Batch norm.** By default each process normalises its own shard (plain DDP): with
  `--batch-size` = w every sample is normalised on its own statistics, the paper's batch-1
  training; one process with the same `--batch-size` normalises over the whole batch instead.
  `--sync-bn` converts batch norm to `torch.nn.SyncBatchNorm` (statistics over the global
  batch, as on one process); torch implements it for GPU tensors only, so it needs CUDA.
  Running statistics, used only by `eval` test-time mode, are rank 0's (DDP broadcasts rank 0's
  buffers at every forward).
- **Randomness.** Rank 0 drives dropout from `--seed`, as one process does; rank r > 0 from a
  seed derived from (seed, rank). Jitter is seeded per (seed, epoch, sample), rank-independent.
- **Files.** Rank 0 alone writes the checkpoint, `config.json`, the log and sample grids;
  every rank waits at a barrier after each checkpoint. The checkpoint records `world_size` and
  every rank's RNG state.
- **Resume.** Under the same world size every rank restores its own RNG stream. Under another
  world size the run continues from the same step with the same weights, Adam state, learning
  rate and data order, rank 0 restoring its stream; what differs is the split of each batch
  (hence the batch-norm statistics without `--sync-bn`), the dropout streams of ranks > 0 and
  the summation order of gradients, so the continuation is not bit-identical.
"""

from __future__ import annotations

import copy
import hashlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from p2pbench.distributed import rank_and_world
from p2pbench.errors import InvalidValueError


def dropout_seed(seed: int, rank: int, step: int = 0) -> int:
    """The global-RNG seed of `rank` from `step` on: `seed` itself for rank 0 at step 0."""
    if rank == 0 and step == 0:
        return seed
    digest = hashlib.sha256(f"p2pbench-train:{seed}:{rank}:{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def check_batch_split(batch_size: int, n_samples: int, world: int, *, whole_epoch: bool) -> None:
    """Every rank gets at least one sample of every global batch (else a clear error)."""
    if world == 1:
        return
    if batch_size < world:
        raise InvalidValueError(
            f"--batch-size {batch_size} is the global batch, split across the {world} "
            f"processes, so it must be at least {world}; use --batch-size {world} for one "
            "sample per process (the paper's batch-1 training on each)"
        )
    last = n_samples % batch_size
    if whole_epoch and 0 < last < world:
        raise InvalidValueError(
            f"the last batch of every epoch holds {last} of the {n_samples} training samples, "
            f"fewer than the {world} processes; choose a --batch-size that divides "
            f"{n_samples} or leaves at least {world} samples in the last batch"
        )


def shared_sync_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of `module`'s tree with `nn.SyncBatchNorm` layers that share its tensors.

    Parameters and buffers (running statistics included) are the very tensors of `module`, so
    training the copy trains `module`, which keeps its own layers (p2pbench's `BatchNorm2d`,
    needed by the `paper` test-time mode of sample grids and checkpoints).
    """
    return nn.SyncBatchNorm.convert_sync_batchnorm(_shallow_tree(module))


def _shallow_tree(module: nn.Module) -> nn.Module:
    clone = copy.copy(module)
    clone._parameters = dict(module._parameters)
    clone._buffers = dict(module._buffers)
    clone._modules = {
        name: None if child is None else _shallow_tree(child)
        for name, child in module._modules.items()
    }
    return clone


def distributed(module: nn.Module, *, sync_bn: bool) -> nn.Module:
    """`module` wrapped in DistributedDataParallel (over its SyncBatchNorm copy with `sync_bn`)."""
    inner = shared_sync_batchnorm(module) if sync_bn else module
    return DistributedDataParallel(inner)  # buffers: rank 0's, broadcast at every forward


def plain(module: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (a forward without gradient sync)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def reduce_losses(losses: dict[str, torch.Tensor], share: float) -> dict[str, float]:
    """The global batch means of this rank's loss terms (`share`: its fraction of the batch)."""
    _, world = rank_and_world()
    if world == 1:
        return {k: v.item() for k, v in losses.items()}
    values = torch.stack([v.detach().to(torch.float64) for v in losses.values()]) * share
    torch.distributed.all_reduce(values)  # on the losses' device: nccl reduces CUDA tensors
    return dict(zip(losses, values.tolist(), strict=True))
