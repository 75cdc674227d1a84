"""The one rule for a setting that changes over a run: how far along the stretch [start, end] of the run (both
fractions of it) `progress` is, from 0 before it to 1 after it; start == end is a jump there. And the one cosine
by which learning rates decay along such a stretch."""

from __future__ import annotations

import math


def ramp(progress: float, start: float, end: float) -> float:
    if end <= start:
        return 0.0 if progress < start else 1.0
    return min(max((progress - start) / (end - start), 0.0), 1.0)


def cosine_decay(k: float, final: float) -> float:
    """A factor falling by a half cosine from 1 at k = 0 to `final` at k = 1 (k is clipped to [0, 1])."""
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(max(k, 0.0), 1.0)))
