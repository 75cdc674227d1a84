"""The errors a user can cause and fix; the CLI and UI show their message instead of a traceback."""

from scoredream.priors import PriorLoadError, PromptError
from scoredream.serialization import ConfigError
from scoredream.train.checkpoint import CheckpointError
from scoredream.train.trainer import TrainingDiverged

USER_ERRORS: tuple[type[BaseException], ...] = (
    PromptError,
    PriorLoadError,
    ConfigError,
    CheckpointError,
    TrainingDiverged,
    OSError,  # unwritable output folder, disk full
)
