"""torch.distributed (DDP) set-up for runs launched by ``torchrun``.

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``
and ``MASTER_PORT``; when ``WORLD_SIZE`` > 1 the trainer joins the process
group (NCCL on CUDA, gloo on CPU), shards the data with a
``DistributedSampler``, wraps the networks in ``DistributedDataParallel`` and
lets only rank 0 write files or report to the user. Any number of processes
and nodes works: only the environment variables matter.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run.

    Attributes:
        rank: global rank (0 writes files).
        world_size: number of processes (1 = not distributed).
        local_rank: rank on this node (selects the CUDA device).
        owns_group: whether the trainer created the process group (and must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def environment_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when unset)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def environment_rank() -> int:
    """``RANK`` from the environment (0 when unset)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun; a single-process DistInfo otherwise.

    Args:
        device_type: ``"cuda"`` selects NCCL (and ``cuda:LOCAL_RANK``), anything else gloo.
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), False)
    world_size = environment_world_size()
    if world_size <= 1 or not dist.is_available():
        return DistInfo()
    rank = environment_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device_type == "cuda" and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world_size, local_rank, True)


def shutdown(info: DistInfo) -> None:
    """Leave the process group if the trainer created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op when not distributed)."""
    if info.distributed:
        dist.barrier()


def any_true(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is set on any process (every process must call this at the same point)."""
    if not info.distributed:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def mean_over_processes(info: DistInfo, values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar values over processes (every process must pass the same keys)."""
    if not info.distributed or not values:
        return dict(values)
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor /= info.world_size
    return {k: float(v) for k, v in zip(keys, tensor.tolist())}
