"""Training loop, configs, checkpoints and turntables."""

from scoredream.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from scoredream.train.config import GenerateConfig, OptimConfig, TrainConfig, VideoConfig
from scoredream.train.trainer import RunResult, StepInfo, TrainingDiverged, generate

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "GenerateConfig",
    "OptimConfig",
    "RunResult",
    "StepInfo",
    "TrainConfig",
    "TrainingDiverged",
    "VideoConfig",
    "generate",
    "load_checkpoint",
]
