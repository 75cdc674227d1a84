"""The user-facing errors: importable without torch (the CLI imports them first), one class per error."""

import importlib
import subprocess
import sys

import pytest

from scoredream import errors


def test_errors_import_without_torch():
    code = "import scoredream.errors, sys; assert 'torch' not in sys.modules, 'scoredream.errors imported torch'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("module", "name"), [
    ("scoredream.priors", "PromptError"),
    ("scoredream.priors", "PriorLoadError"),
    ("scoredream.priors.loading", "PriorLoadError"),
    ("scoredream.train", "CheckpointError"),
    ("scoredream.train.checkpoint", "CheckpointError"),
    ("scoredream.export", "ExportError"),
    ("scoredream.export", "EmptySurfaceError"),
    ("scoredream.serialization", "ConfigError"),
    ("scoredream.run_folder", "RunFolderBusy"),
    ("scoredream.train.trainer", "TrainingDiverged"),
    ("scoredream.guidance.perp_neg", "PerpNegError"),
])
def test_old_import_paths_give_the_same_class(module, name):
    # `except errors.X` in the CLI must catch what the library raises, whichever path it was imported by.
    assert getattr(importlib.import_module(module), name) is getattr(errors, name)


def test_every_user_error_is_caught_by_user_errors():
    for name in errors.__all__:
        if name != "USER_ERRORS":
            assert isinstance(getattr(errors, name)("msg"), errors.USER_ERRORS), name
