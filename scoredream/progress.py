"""The one rule for a setting that changes over a run: how far along the stretch [start, end] of the run (both
fractions of it) `progress` is, from 0 before it to 1 after it; start == end is a jump there."""

from __future__ import annotations


def ramp(progress: float, start: float, end: float) -> float:
    if end <= start:
        return 0.0 if progress < start else 1.0
    return min(max((progress - start) / (end - start), 0.0), 1.0)
