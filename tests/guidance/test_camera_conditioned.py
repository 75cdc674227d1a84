"""A camera-conditioned prior (scoredream.priors.camera_labels): it needs each render's camera, and every method
hands it over, so two renders seen from cameras that differ only in distance are guided differently, where a
view-prompted prior guides them alike."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import tiny_prior

from scoredream.guidance import ASDConfig, SDSConfig, VSDConfig
from scoredream.priors import PromptEmbeddings
from scoredream.priors.camera_labels import camera_labels
from scoredream.render.cameras import make_cameras


def cameras_at(distance: float, n: int = 2):
    return make_cameras(torch.full((n,), 30.0), torch.full((n,), 10.0), torch.full((n,), distance),
                        torch.full((n,), 60.0))


def test_labels_are_the_camera_to_world_rows_and_the_focal_length() -> None:
    cams = cameras_at(1.5)
    labels = camera_labels(cams)
    assert labels.shape == (2, 13)
    torch.testing.assert_close(labels[:, :12], cams.c2w[:, :3].reshape(2, 12))
    torch.testing.assert_close(labels[:, 12], torch.full((2,), 1 / math.tan(math.radians(30))))


def test_a_camera_conditioned_prior_needs_the_cameras_and_reads_them() -> None:
    prior = tiny_prior(camera_conditioned=True)
    assert prior.reads_cameras and not tiny_prior().reads_cameras
    x, t, text = torch.randn(2, 3, 16, 16), torch.tensor([500, 500]), prior.encode_text(["a red cube"] * 2)
    with pytest.raises(ValueError, match="camera-conditioned"):
        prior.predict_noise(x, t, text)
    near = prior.predict_noise(x, t, text, camera_labels(cameras_at(1.5)))
    far = prior.predict_noise(x, t, text, camera_labels(cameras_at(2.0)))
    assert not torch.allclose(near, far)


@pytest.mark.parametrize("config", [SDSConfig(), ASDConfig(), VSDConfig(lora_lr=0.0)], ids=["sds", "asd", "vsd"])
def test_every_method_guides_by_the_camera(config) -> None:
    rgb = torch.rand(2, 16, 16, 3)
    for camera_conditioned in (False, True):
        prior = tiny_prior(camera_conditioned=camera_conditioned)
        guidance = config.setup(prior)
        prompt = PromptEmbeddings(prior, "a red cube")
        near, far = (guidance(rgb.clone().requires_grad_(), cameras_at(d), prompt, 0.5,
                              torch.Generator().manual_seed(0)).loss for d in (1.5, 2.0))
        # Same view word, same t and noise: only a prior that reads cameras tells the two apart. (VSD's LoRA
        # reads c2w in both cases, but its camera embedding starts at zero.)
        assert torch.isclose(near, far).item() is not camera_conditioned
