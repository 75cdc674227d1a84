import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(2)

from tiny_models import tiny_prior  # noqa: E402


@pytest.fixture(scope="session")
def pixel_prior():
    return tiny_prior(latent=False)


@pytest.fixture(scope="session")
def latent_prior():
    return tiny_prior(latent=True)
