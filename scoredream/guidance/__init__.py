"""Score distillation methods: (renders, cameras, prompt, step) -> loss."""

from scoredream.guidance.base import Guidance, GuidanceOutput, TimestepSchedule, sds_weight, surrogate_loss
from scoredream.guidance.sds import SDSConfig, SDSGuidance

__all__ = [
    "Guidance",
    "GuidanceOutput",
    "SDSConfig",
    "SDSGuidance",
    "TimestepSchedule",
    "sds_weight",
    "surrogate_loss",
]
