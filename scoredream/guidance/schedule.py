"""The range of diffusion timesteps a method draws from, as it changes over a run.

Every position in a run is a fraction of it (`progress` = step / steps), so `--train.steps` alone scales a run: a
schedule that anneals over the first 20% of a 600-step run anneals over the first 20% of a 25,000-step one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from scoredream.progress import ramp
from scoredream.serialization import ConfigError


@dataclass
class TimestepSchedule:
    """Range of t (a fraction of the prior's training timesteps) annealed linearly from `start` to `end` (fractions
    of the run)."""

    min_start: float = 0.02
    """lowest t (fraction of training timesteps) until `start`"""
    min_end: float = 0.02
    """lowest t from `end` on"""
    max_start: float = 0.98
    """highest t until `start`"""
    max_end: float = 0.98
    """highest t from `end` on"""
    start: float = 0.0
    """fraction of the run where annealing begins"""
    end: float = 0.0
    """fraction of the run where annealing ends (equal to start: a jump there)"""

    def validate(self, where: str) -> None:
        fractions = {"min_start": self.min_start, "min_end": self.min_end, "max_start": self.max_start,
                     "max_end": self.max_end, "start": self.start, "end": self.end}
        bad = [f"{where}.{k}={v}" for k, v in fractions.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"t and run fractions must be in [0, 1]: {', '.join(bad)}")
        if self.min_start > self.max_start or self.min_end > self.max_end:
            raise ConfigError(f"{where}: the lowest t must not exceed the highest (min_start <= max_start, "
                              "min_end <= max_end)")
        if self.start > self.end:
            raise ConfigError(f"{where}: start ({self.start}) must not come after end ({self.end})")

    def fractions(self, progress: float) -> tuple[float, float]:
        """(lowest, highest) t fraction at this point of the run."""
        k = ramp(progress, self.start, self.end)
        lo = (1 - k) * self.min_start + k * self.min_end
        hi = (1 - k) * self.max_start + k * self.max_end
        return lo, max(hi, lo)

    def bounds(self, progress: float, num_train_timesteps: int) -> tuple[int, int]:
        # t = 1.0 means the last of the prior's timesteps (index num_train_timesteps - 1), not one past it.
        lo, hi = self.fractions(progress)
        last = num_train_timesteps - 1
        return min(int(lo * num_train_timesteps), last), min(int(hi * num_train_timesteps), last)

    def sample(
        self, progress: float, batch: int, num_train_timesteps: int, generator: torch.Generator | None
    ) -> Int[Tensor, " B"]:
        lo, hi = self.bounds(progress, num_train_timesteps)
        return torch.randint(lo, hi + 1, (batch,), generator=generator)


def upgrade_step_schedule(data: dict, steps: int) -> dict:
    """A schedule saved before runs were measured in fractions ({start_step, end_step}) as fractions of `steps`."""
    data = dict(data)
    for old, new in (("start_step", "start"), ("end_step", "end")):
        if old in data:
            data[new] = min(data.pop(old) / max(steps, 1), 1.0)
    return data
