"""One-step text-to-image by score distillation (SwiftBrush): a student UNet trained by the 3D path's guidance."""

from scoredream.distill2d.config import Distill2DConfig, preset
from scoredream.distill2d.student import OneStepStudent, StudentInfo, student_timestep
from scoredream.distill2d.trainer import Distill2DResult, StudentTrainer, distill2d

__all__ = ["Distill2DConfig", "Distill2DResult", "OneStepStudent", "StudentInfo", "StudentTrainer", "distill2d",
           "preset", "student_timestep"]
