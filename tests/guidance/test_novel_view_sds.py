"""Novel-view SDS with the shipped embedded novel-view prior (assets/novel_view)."""

import pytest
import torch

from scoredream.guidance.novel_view import NovelViewGuidanceConfig
from scoredream.priors.novel_view import NovelViewPriorConfig
from scoredream.render.cameras import CameraSamplerConfig, make_cameras
from scoredream.world.render import composite, trace_shape
from scoredream.world.shapes import COLOURS


@pytest.fixture(scope="module")
def embedded():
    return NovelViewPriorConfig().setup("cpu")


def _input_view(colour: str):
    camera = make_cameras(torch.tensor([20.0]), torch.tensor([15.0]), torch.tensor([1.75]), torch.tensor([50.0]))
    image = composite(trace_shape("cube", camera), torch.tensor([COLOURS[colour]]), torch.ones(1, 3, 32, 32))
    return image[0], camera


def _distil_blank(embedded, colour: str, steps: int = 15) -> torch.Tensor:
    """A (near) white image, seen from 2 random cameras, optimised by novel-view SDS alone; returns it."""
    guidance = NovelViewGuidanceConfig().setup(embedded)
    guidance.set_reference(*_input_view(colour))
    generator = torch.Generator().manual_seed(0)
    cameras = CameraSamplerConfig().sample(2, generator)
    logits = torch.full((2, 32, 32, 3), 3.0, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.2)
    for step in range(steps):
        out = guidance(torch.sigmoid(logits), cameras, step / steps, generator)
        optimizer.zero_grad()
        out.loss.backward()
        assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
        optimizer.step()
    return torch.sigmoid(logits).detach()


def _object_colour(rgb: torch.Tensor) -> tuple[float, float]:
    """(fraction of pixels that are no longer near white, their mean red minus blue)."""
    drawn = rgb.min(-1).values < 0.7
    return float(drawn.float().mean()), float((rgb[..., 0] - rgb[..., 2])[drawn].mean())


def test_sds_pulls_a_blank_render_toward_the_inputs_colour(embedded):
    red_area, red = _object_colour(_distil_blank(embedded, "red"))
    blue_area, blue = _object_colour(_distil_blank(embedded, "blue"))
    assert red_area > 0.02 and blue_area > 0.02, (red_area, blue_area)
    assert red > 0.2 and blue < -0.2, (red, blue)
