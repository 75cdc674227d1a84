"""Data-parallel training on this machine without torchrun: N local processes joined over gloo (tests, benchmarks).

torchrun is the way for real runs (`torchrun --nproc-per-node N -m scoredream.cli amortized train ...`); this does
what it does for one machine, in the environment variables `train_generator` reads.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp

from scoredream.amortized.config import AmortizedConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, config: AmortizedConfig, threads: int, results: object,
            weights: str | None) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(threads)
    from scoredream.amortized.train import train_generator

    result = train_generator(config, progress=False)
    results[rank] = (result.seconds, result.samples, result.step)  # type: ignore[index]
    if weights is not None:  # each replica's own weights, to check they stayed identical
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in result.generator.state_dict().items()}
        save_file(state, os.path.join(weights, f"rank{rank}.safetensors"))


def train_in_processes(config: AmortizedConfig, processes: int, threads: int = 1,
                       weights: str | None = None) -> list[tuple[float, int, int]]:
    """Train `config` in `processes` local processes; per rank (training seconds, prompt-views, final step).
    `weights`: a folder where each rank writes its replica's final weights (rank{R}.safetensors)."""
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(processes, free_port(), config, threads, results, weights), nprocs=processes,
                 join=True)
        return [results[r] for r in range(processes)]
