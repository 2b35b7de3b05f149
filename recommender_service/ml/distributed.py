"""Data-parallel training across processes (torch.distributed, in the group torchrun starts).

Outside a process group every function here is the one-process case (rank 0 of 1), so the
trainer keeps one code path and a one-process run is unchanged, bit for bit. In a group:
- each epoch's positives are shuffled alike on every rank and dealt out (`share`); each rank
  draws its own negatives for its share (`rank_seed`);
- the model is wrapped in DistributedDataParallel (`wrap`), which averages the gradients over
  the ranks at every step, so every rank holds the same weights after each step;
- what steers the loop (validation scores, the time budget) is computed on rank 0 alone and
  broadcast (`from_leader`), so that every rank runs the same epochs and steps.

Only the SGD families are shared out (`check_family`): EASE^R is one closed-form solve and iALS
a few ALS sweeps in `implicit` (seconds to a minute or two on ML-1M, on one machine's cores),
with no per-sample work to divide; `auto` and a blend fit them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .models import MODEL_NAMES

T = TypeVar("T")

SHARED_FAMILIES = MODEL_NAMES
# Rank r > 0 draws its negatives from seed + r·stride: far from the small offsets (seed + 1,
# seed + 2) the splits use, and rank 0 keeps the one-process stream.
RANK_SEED_STRIDE = 1_000_003
# A rank waits this long for the others at a collective: the other ranks wait for rank 0's job
# while it syncs the read model (up to `train --sync-timeout`) and takes the run's lease.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)


TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(RuntimeError):
    """A distributed run that cannot start as asked (said before any process group exists)."""


def check_family(model: str) -> None:
    """Raises `DistributedError` unless `model` is trained by the shared SGD loop."""
    if model not in SHARED_FAMILIES:
        raise DistributedError(
            f"--distributed trains the SGD families ({', '.join(SHARED_FAMILIES)}), not "
            f"{model!r}: EASE^R is one closed-form solve and iALS a few ALS sweeps on one "
            "machine, with no per-sample work to share, and auto or a blend fit them. "
            "Run that model without torchrun and --distributed."
        )


def resolve_device(name: str) -> str:
    """`auto` is CUDA when a GPU is visible, else the CPU; `cuda` without one is an error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DistributedError("--device cuda: no CUDA device is visible to this process")
    if name not in ("cpu", "cuda"):
        raise DistributedError(f"--device must be auto, cpu or cuda, not {name!r}")
    return name


def in_group() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if in_group() else 0


def world_size() -> int:
    return dist.get_world_size() if in_group() else 1


def is_leader() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world_size() -> int:
    """The processes torchrun started on this machine (they share its cores)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def join(device: str) -> None:
    """Joins the group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT): NCCL between GPUs, gloo between CPU processes."""
    missing = [v for v in TORCHRUN_ENV if v not in os.environ]
    if missing:
        raise DistributedError(
            f"--distributed runs under torchrun (no {', '.join(missing)} in the environment): "
            "torchrun --nproc_per_node=N -m recommender_service …"
        )
    if device == "cuda":
        torch.cuda.set_device(local_rank())
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)


def leave() -> None:
    """Every rank tears the group down together: a rank that destroyed its side while rank 0
    was still registering the version sometimes aborted in gloo's threads at exit (SIGABRT,
    "terminate called without an active exception"). A rank that died instead is not waited
    for: torchrun stops the others."""
    if in_group():
        dist.barrier()
        dist.destroy_process_group()


def torch_device(name: str) -> torch.device:
    """The device this process trains on: on CUDA, each rank of a machine its own GPU."""
    if name == "cuda":
        return torch.device("cuda", local_rank() if in_group() else torch.cuda.current_device())
    return torch.device(name)


def rank_seed(seed: int) -> int:
    """The seed of this rank's own random streams (its negatives, its shuffles)."""
    return seed + RANK_SEED_STRIDE * rank()


def share(n: int, epoch: int, seed: int) -> np.ndarray | None:
    """This rank's rows of `range(n)` for `epoch` (`deal`); None when alone (all, in order)."""
    return None if world_size() == 1 else deal(n, epoch, seed, rank(), world_size())


def deal(n: int, epoch: int, seed: int, rank_: int, world: int) -> np.ndarray:
    """Rank `rank_`'s rows: a permutation of `range(n)` common to every rank (seeded by the
    run's seed and the epoch), padded by wrapping round to a multiple of `world`, since every
    rank must take as many optimiser steps as the others, and dealt out round robin: each row
    once per epoch, the padding aside, and a fresh deal every epoch."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    padded = np.resize(order, -(-n // world) * world)
    return padded[rank_::world]


def from_leader(compute: Callable[[], T]) -> T:
    """`compute()` on rank 0, its result on every rank (`compute` is not called elsewhere)."""
    if not in_group():
        return compute()
    box: list[object] = [compute() if is_leader() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]  # type: ignore[return-value]


def mean(value: float) -> float:
    """The average of `value` over the ranks (an epoch's loss from each rank's share)."""
    if not in_group():
        return value
    on = torch.device("cuda", torch.cuda.current_device()) if _nccl() else torch.device("cpu")
    total = torch.tensor([value], dtype=torch.float64, device=on)
    dist.all_reduce(total)
    return float(total.item()) / world_size()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` itself when alone; in a group, DistributedDataParallel around it (which first
    broadcasts rank 0's weights, so every rank starts from the same ones)."""
    if not in_group():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _nccl() -> bool:
    return bool(dist.get_backend() == "nccl")
