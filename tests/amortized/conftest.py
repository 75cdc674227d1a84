from pathlib import Path

import pytest

from scoredream.amortized.config import AmortizedConfig
from scoredream.priors import load_prior


@pytest.fixture(scope="session")
def embedded_prior():
    return load_prior("embedded")


def tiny_config(tmp_path: Path, prompts: list[str], steps: int = 3, prompts_per_step: int = 2) -> AmortizedConfig:
    """A generator and renders small enough for a CPU test, over a text corpus of `prompts`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(prompts) + "\n")
    cfg = AmortizedConfig(corpus=corpus, output_dir=tmp_path, run_name="gen")
    grid = cfg.hyper_ingp.grid
    grid.levels, grid.max_resolution, grid.dense_max_resolution = 3, 32, 32
    cfg.triplane.planes.resolution, cfg.triplane.planes.channels, cfg.triplane.layers = 16, 8, 1
    cfg.train.steps, cfg.train.prompts_per_step, cfg.train.resolution = steps, prompts_per_step, 16
    cfg.train.device, cfg.train.checkpoint_every = "cpu", 0
    cfg.render.num_samples = 12
    cfg.video.frames, cfg.video.resolution, cfg.video.format = 4, 16, "gif"
    cfg.export.resolution = 32
    return cfg


@pytest.fixture
def make_config():
    return tiny_config
