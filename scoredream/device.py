"""Which torch device a run uses, refused with a clear message when this machine does not have it."""

from __future__ import annotations

import torch

from scoredream.serialization import ConfigError


def pick_device(name: str) -> torch.device:
    """'auto' is cuda when a GPU is usable, else cpu; anything else must exist on this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device '{name}': use cpu, cuda, cuda:N or auto") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(f"device '{name}' asked for, but this machine has no usable CUDA GPU (torch "
                              f"{torch.__version__}, {build}); use --train.device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device '{name}' asked for, but MPS is not available here; use cpu or auto")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device '{name}' is not supported: use cpu, cuda, cuda:N, mps or auto")
    return device
