import torch

from scoredream.world.dataset import render_bank, sample_batch
from scoredream.world.judge import load_judge
from scoredream.world.shapes import SHAPE_NAMES, side_index


def test_shipped_judge_reads_fresh_renders():
    g = torch.Generator().manual_seed(2024)  # neither the judge's (1) nor the prior's (0) data seed
    batch = sample_batch(render_bank(25, g), 500, g)
    judge = load_judge()
    with torch.no_grad():
        out = judge(batch.images)
    both = (out.shape == batch.shape) & (out.colour == batch.colour)
    assert both.float().mean() >= 0.9
    mug = batch.shape == SHAPE_NAMES.index("mug")
    assert (out.side[mug] == side_index(batch.azimuth[mug])).float().mean() >= 0.85
    colour, shape, side = out.names()[0]
    assert isinstance(colour, str) and shape in SHAPE_NAMES and side in ("front", "side", "back")


def test_judge_resizes_larger_renders():
    judge = load_judge()
    with torch.no_grad():
        out = judge(torch.rand(2, 3, 64, 64))
    assert out.shape_logits.shape == (2, len(SHAPE_NAMES))
