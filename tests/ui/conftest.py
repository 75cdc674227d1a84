"""A live app on localhost with tiny settings, shared by the end-to-end and browser tests."""

import json
import socket

import pytest
from tiny_models import save_prior_folder, tiny_prior

from scoredream.priors.loading import assets_dir

# Tiny settings: 16 px renders, 8 samples per ray, a 2-level grid, a 4-frame turntable, a 32^3 untextured mesh.
TINY_EXPORT = {"resolution": 32, "coarse_resolution": 16, "texture": False, "target_faces": 0}
TINY = {"render": {"num_samples": 8}, "hashgrid": {"levels": 2, "max_resolution": 32},
        "video": {"frames": 4, "resolution": 16}, "train": {"checkpoint_every": 0, "batch_size": 1},
        "export": TINY_EXPORT}
TINY_PVD = {"rays_per_step": 64, "num_cameras": 4, "camera_resolution": 16, "feature_steps": 2, "sample_steps": 4}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prior_model(tmp_path_factory) -> str:
    """The embedded prior once it ships in assets/; a tiny random prior folder until then."""
    if (assets_dir() / "prior" / "model_index.json").exists():
        return "embedded"
    folder = tmp_path_factory.mktemp("prior")
    save_prior_folder(tiny_prior(), folder)
    return str(folder)


@pytest.fixture(scope="module")
def app(tmp_path_factory, prior_model):
    pytest.importorskip("gradio")
    from ui.app import launch

    outputs = tmp_path_factory.mktemp("outputs")
    defaults = {"model": prior_model, "steps": 4, "resolution": 16, "preview_every": 2, "device": "cpu",
                "overrides": json.dumps(TINY), "convert_steps": 4, "convert_overrides": json.dumps(TINY_PVD),
                "export_resolution": 32, "export_overrides": json.dumps(TINY_EXPORT)}
    demo = launch("127.0.0.1", free_port(), outputs, defaults=defaults, block=False)
    yield demo.local_url, outputs, defaults
    demo.close()
