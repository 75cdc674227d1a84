"""Score distillation methods: (renders, cameras, prompt, step) -> loss."""

from scoredream.guidance.asd import ASDConfig, ASDGuidance
from scoredream.guidance.base import Guidance, GuidanceOutput, TimestepSchedule, sds_weight, surrogate_loss
from scoredream.guidance.sds import SDSConfig, SDSGuidance
from scoredream.guidance.vsd import VSDConfig, VSDGuidance

GuidanceConfig = SDSConfig | VSDConfig | ASDConfig

__all__ = [
    "ASDConfig",
    "ASDGuidance",
    "Guidance",
    "GuidanceConfig",
    "GuidanceOutput",
    "SDSConfig",
    "SDSGuidance",
    "TimestepSchedule",
    "VSDConfig",
    "VSDGuidance",
    "sds_weight",
    "surrogate_loss",
]
