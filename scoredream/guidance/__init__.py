"""Score distillation methods: (renders, cameras, prompt, progress through the run) -> loss."""

from scoredream.guidance.asd import ASDConfig, ASDGuidance
from scoredream.guidance.base import (
    Guidance,
    GuidanceOutput,
    MethodConfig,
    ScoreDistillation,
    sds_weight,
    surrogate_loss,
)
from scoredream.guidance.schedule import TimestepSchedule
from scoredream.guidance.sds import SDSConfig, SDSGuidance
from scoredream.guidance.settings import REFERENCE_GUIDANCE_SCALE, method_settings
from scoredream.guidance.vsd import VSDConfig, VSDGuidance

GuidanceConfig = SDSConfig | VSDConfig | ASDConfig

__all__ = [
    "REFERENCE_GUIDANCE_SCALE",
    "ASDConfig",
    "ASDGuidance",
    "Guidance",
    "GuidanceConfig",
    "GuidanceOutput",
    "MethodConfig",
    "SDSConfig",
    "SDSGuidance",
    "ScoreDistillation",
    "TimestepSchedule",
    "VSDConfig",
    "VSDGuidance",
    "method_settings",
    "sds_weight",
    "surrogate_loss",
]
