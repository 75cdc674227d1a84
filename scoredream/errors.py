"""The errors a user can cause and fix; the CLI and UI show their message instead of a traceback.

No torch here (the CLI imports this module before anything heavy): the errors whose natural home imports torch
are defined here, and those modules re-export them (`scoredream.priors.PromptError`,
`scoredream.train.checkpoint.CheckpointError`, ...). The others live in torch-free modules of their own.
"""

from scoredream.export.config import EmptySurfaceError, ExportError
from scoredream.run_folder import RunFolderBusy, RunFolderExists
from scoredream.serialization import ConfigError


class PromptError(ValueError):
    """The prompt cannot be used (empty, too long for the text encoder)."""


class PriorLoadError(RuntimeError):
    """A prior could not be found or loaded; the message says why and what to do."""


class PerpNegError(ValueError):
    """Perp-Neg was asked for without view-dependent prompts."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or not a scoredream checkpoint."""


class ImageError(ValueError):
    """The input image cannot be used (not an image, too small or huge, no object to separate)."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    PromptError,
    PerpNegError,  # Perp-Neg without view-dependent prompts
    PriorLoadError,
    ConfigError,
    CheckpointError,
    ImageError,  # the input image of `generate --image`
    TrainingDiverged,
    RunFolderBusy,  # another process writes the run
    RunFolderExists,  # a new run into a finished one's folder
    ExportError,  # unknown format, no surface (EmptySurfaceError), bad settings, unwritable mesh path
    OSError,  # unwritable output folder, disk full
)

__all__ = ["USER_ERRORS", "CheckpointError", "ConfigError", "EmptySurfaceError", "ExportError", "ImageError",
           "PerpNegError", "PriorLoadError", "PromptError", "RunFolderBusy", "RunFolderExists", "TrainingDiverged"]
