"""Rank helpers: contiguous shards without padding, gathering small Python objects, and the
process group of a command started by torchrun.

`torch.utils.data.DistributedSampler` pads the dataset so every rank gets as many samples
(Cityscapes val, 500 frames, on 3 ranks scores 501). Here rank r of w takes the contiguous range
[r·n // w, (r+1)·n // w): every sample exactly once, shard lengths differing by at most one.

Under `torchrun --nproc_per_node=N -m p2pbench ...` (WORLD_SIZE > 1, RANK, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT set) the command line calls `init_from_environment` before the command
and `shutdown` after it, also when it fails. Failure handling: a rank that raises destroys its
process group on the way out, so peers blocked in a gloo collective fail within seconds
("Connection closed by peer"); torchrun also terminates the remaining workers as soon as one
exits non-zero. A rank that hangs without exiting is caught by the group's timeout
(`$P2PBENCH_DIST_TIMEOUT` seconds, default 600), which bounds joining the group and every
collective.
"""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from p2pbench.errors import BadInputError, InvalidValueError, P2PBenchWarning

T = TypeVar("T")

TIMEOUT_ENV = "P2PBENCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
_TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_owned_group = False  # whether init_from_environment created the current default group


class DistributedInitError(BadInputError, ConnectionError):
    """The process group could not be formed (a peer never came, or the address is wrong)."""


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def warn(message: str, category: type[Warning] = P2PBenchWarning, stacklevel: int = 2) -> None:
    """`warnings.warn(message)` on rank 0 only: N processes of one run give a warning once.

    Library code warns through this, never by printing; the CLI shows the warning on stderr.
    """
    if rank_and_world()[0] == 0:
        warnings.warn(message, category, stacklevel=stacklevel + 1)


def shard_range(n: int, rank: int, world_size: int) -> range:
    """The contiguous indices of `n` samples that `rank` of `world_size` evaluates."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    return range(rank * n // world_size, (rank + 1) * n // world_size)


def gather_lists(items: list[Any]) -> list[Any]:
    """Concatenate each rank's list in rank order (contiguous shards → sample order)."""
    _, world = rank_and_world()
    if world == 1:
        return list(items)
    gathered: list[list[Any]] = [[] for _ in range(world)]
    dist.all_gather_object(gathered, items)
    return [x for part in gathered for x in part]


def barrier() -> None:
    """Wait until every rank arrives here; a no-op without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj: T) -> T:
    """Rank 0's `obj` on every rank (picklable objects); `obj` itself without a process group."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def is_main_process() -> bool:
    """Whether this process writes files and prints results: rank 0, or the only process."""
    return rank_and_world()[0] == 0


def group_timeout() -> timedelta:
    """The timeout for joining the group and for each collective: `$P2PBENCH_DIST_TIMEOUT` s."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidValueError(f"{TIMEOUT_ENV} must be a number of seconds > 0, found {raw!r}")
    return timedelta(seconds=seconds)


def init_from_environment(device: str | None = None) -> bool:
    """Join the process group described by torchrun's environment; True if this call did.

    Nothing happens (False) without WORLD_SIZE, with WORLD_SIZE=1, or when a default group
    already exists. Backend: nccl when `device` (the command's --device) is CUDA and CUDA is
    available, after setting this process's CUDA device to LOCAL_RANK (so pass `cuda`, not
    `cuda:1`); gloo otherwise.
    """
    world = _env_int("WORLD_SIZE", default=1)
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise DistributedInitError(
            f"WORLD_SIZE={world} but this PyTorch build has no torch.distributed; "
            "run one process or install a build with distributed support"
        )
    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise InvalidValueError(
            f"WORLD_SIZE={world} is set but {', '.join(missing)} not: start several processes "
            "with `torchrun --nproc_per_node=N -m p2pbench ...`, or unset WORLD_SIZE"
        )
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK")
    if not 0 <= rank < world:
        raise InvalidValueError(
            f"RANK={rank} outside WORLD_SIZE={world}: expected 0 ≤ RANK < {world}"
        )
    use_cuda = _is_cuda(device) and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    timeout = group_timeout()
    try:
        dist.init_process_group(
            "nccl" if use_cuda else "gloo",
            init_method="env://",
            rank=rank,
            world_size=world,
            timeout=timeout,
        )
    except (RuntimeError, ValueError, OSError) as e:
        where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
        raise DistributedInitError(
            f"rank {rank} could not join the {world}-process group at {where} within "
            f"{timeout.total_seconds():g} s ({e}); check that every rank was started with the "
            f"same MASTER_ADDR/MASTER_PORT, or raise {TIMEOUT_ENV}"
        ) from e
    global _owned_group
    _owned_group = True
    return True


def shutdown() -> None:
    """Destroy the process group that `init_from_environment` created; otherwise do nothing."""
    global _owned_group
    if _owned_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _owned_group = False


def is_peer_failure(error: BaseException) -> bool:
    """Whether `error` says a collective failed because another rank died or stopped answering."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("Connection closed by peer", "Connection reset by peer")
    )


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise InvalidValueError(f"environment variable {name} is not set")
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValueError(
            f"environment variable {name} must be an integer, found {raw!r}"
        ) from None


def _is_cuda(device: str | None) -> bool:
    try:
        return device is not None and torch.device(device).type == "cuda"
    except (RuntimeError, ValueError):
        return False  # not a device name: the command itself reports it
