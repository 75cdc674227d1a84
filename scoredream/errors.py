"""The errors a user can cause and fix; the CLI and UI show their message instead of a traceback."""

from scoredream.export import ExportError
from scoredream.guidance.perp_neg import PerpNegError
from scoredream.priors import PriorLoadError, PromptError
from scoredream.run_folder import RunFolderBusy, RunFolderExists
from scoredream.serialization import ConfigError
from scoredream.train.checkpoint import CheckpointError
from scoredream.train.trainer import TrainingDiverged

USER_ERRORS: tuple[type[BaseException], ...] = (
    PromptError,
    PerpNegError,  # Perp-Neg without view-dependent prompts
    PriorLoadError,
    ConfigError,
    CheckpointError,
    TrainingDiverged,
    RunFolderBusy,  # another process writes the run
    RunFolderExists,  # a new run into a finished one's folder
    ExportError,  # unknown format, no surface (EmptySurfaceError), bad settings, unwritable mesh path
    OSError,  # unwritable output folder, disk full
)
