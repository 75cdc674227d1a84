"""The benchmark's metrics: the ground-truth field scores perfectly, an empty or wrong field does not."""

import torch

from scoredream.fields import HashGridConfig
from scoredream.world.evaluate import field_occupancy, iou, janus_rate, score_field
from scoredream.world.field import WorldField
from scoredream.world.judge import load_judge
from scoredream.world.truth import occupancy


def test_ground_truth_field_scores_perfectly():
    judge = load_judge()
    score = score_field(WorldField("mug", "cyan", sharpness=0.001), "a cyan mug", judge)
    assert score.judge_accuracy >= 0.85 and score.iou > 0.8 and score.colour_error < 0.05
    assert score.janus_rate == 0.0  # no view on a front/side/back boundary, where even the truth is a coin toss
    wrong = score_field(WorldField("cube", "red"), "a cyan mug", judge)
    assert wrong.judge_accuracy < 0.2 and wrong.iou < 0.5


def test_a_mug_with_its_handle_on_the_wrong_side_has_a_janus_rate():
    """The true mug mirrored left-right: its side views stay sides, its front and back swap."""
    mirrored = WorldField("mug", "cyan", sharpness=0.001)
    mug_sdf = mirrored.sdf
    mirrored.sdf = lambda p: mug_sdf(p * torch.tensor([1.0, -1.0, 1.0]))
    assert janus_rate(mirrored, load_judge()) >= 0.375


def test_untrained_blob_is_not_a_cube():
    blob = HashGridConfig(levels=2, max_resolution=32).setup()
    torch.nn.init.zeros_(blob.mlp[-1].weight)
    assert iou(field_occupancy(blob), occupancy("cube")) < 0.6


def test_iou_of_shifted_grids():
    a = torch.zeros(4, 4, 4, dtype=torch.bool)
    a[:2] = True
    b = torch.zeros_like(a)
    b[1:3] = True
    assert iou(a, b) == 1 / 3 and iou(a, a) == 1.0


def test_iou_follows_the_rendered_surface_not_a_density_level():
    """A soft, low-density sphere (peak 8, never above the old fixed level of 10) still renders as a sphere: its
    IoU is taken inside the surface where rays turn half opaque, as the mesh export places it."""
    soft = WorldField("sphere", "blue", density=8.0, sharpness=0.02)
    truth = occupancy("sphere")
    assert iou(field_occupancy(soft), truth) > 0.85
    assert iou(field_occupancy(soft, threshold=10.0), truth) == 0.0
    empty = WorldField("sphere", "blue", density=1e-3)
    assert not field_occupancy(empty).any()
