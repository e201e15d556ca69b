"""Rank, world size and device in one place; one code path for 1 and many ranks.

    from t2.infra.dist import init, dist_info, print0, is_rank0
    info = init("auto")      # sets RANK/WORLD_SIZE/... itself when no launcher did, then joins
    print0(f"world={info.world_size}")

Without a launcher (``python -m ...`` or ``t2 train``) DeepSpeed would try MPI discovery and die
without mpi4py, so ``init`` fills in a world of one with a free local port first. Under torchrun
or Ray Train those variables already exist and are left alone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: str  # "cpu" or "cuda:<local_rank>"
    backend: str  # "gloo" or "nccl"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_single_process_env() -> None:
    """Declare a world of one when no launcher did (RANK unset)."""
    if "RANK" in os.environ:
        return
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(free_port()))


def resolve_backend(backend: str = "auto") -> str:
    if backend != "auto":
        return backend
    return "nccl" if cuda_available() else "gloo"


def init(backend: str = "auto") -> DistInfo:
    """Join (or create) the process group through DeepSpeed; idempotent."""
    if not cuda_available():
        # Before deepspeed is imported anywhere: pick the CPU accelerator explicitly (no probing).
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    alone = "RANK" not in os.environ
    set_single_process_env()
    import torch.distributed as tdist

    backend = resolve_backend(backend)
    if not tdist.is_initialized():
        if alone:
            # A world of one needs no rendezvous: an in-memory store, not a TCP port that another
            # process may take between picking it and binding it (EADDRINUSE under load).
            tdist.init_process_group(backend, store=tdist.HashStore(), rank=0, world_size=1)
        import deepspeed

        deepspeed.init_distributed(dist_backend=backend)
    return dist_info()


def dist_info() -> DistInfo:
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        rank, world, backend = tdist.get_rank(), tdist.get_world_size(), tdist.get_backend()
    else:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
        backend = "none"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local_rank}" if cuda_available() else "cpu"
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, device=device,
                    backend=str(backend))


def is_rank0() -> bool:
    return dist_info().rank == 0


def print0(*args, **kwargs) -> None:
    if is_rank0():
        print(*args, **kwargs, flush=True)


def barrier() -> None:
    import torch.distributed as tdist

    if tdist.is_initialized() and tdist.get_world_size() > 1:
        tdist.barrier()


def broadcast_from_rank0(obj):
    """Rank 0 decides (e.g. a file-system question); every rank gets its answer."""
    import torch.distributed as tdist

    if not tdist.is_initialized() or tdist.get_world_size() == 1:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(values: list[float]) -> list[float]:
    import torch
    import torch.distributed as tdist

    if not tdist.is_initialized() or tdist.get_world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    tdist.all_reduce(t)
    return t.tolist()


def cpu_threads_per_rank(world_size_on_node: int, requested: int | None = None) -> int:
    """Threads per rank on CPU: the node's cores split evenly between its ranks."""
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, world_size_on_node))


def placement() -> dict:
    """Where this process runs: hostname, pid and, inside a Ray worker, the Ray node id (so
    results can show which node of a cluster produced them)."""
    import sys

    node_id = None
    ray = sys.modules.get("ray")  # only ask Ray when this process already uses it
    if ray is not None and ray.is_initialized():
        node_id = ray.get_runtime_context().get_node_id()
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "node_id": node_id}


def all_gather_objects(obj) -> list:
    """Every rank's ``obj``, in rank order (a list of one without a process group)."""
    import torch.distributed as tdist

    if not tdist.is_initialized() or tdist.get_world_size() == 1:
        return [obj]
    out = [None] * tdist.get_world_size()
    tdist.all_gather_object(out, obj)
    return out
