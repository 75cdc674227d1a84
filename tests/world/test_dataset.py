import torch

from scoredream.priors.prompts import view_suffix
from scoredream.world.dataset import GeometryBank, render_bank, sample_batch
from scoredream.world.novel_view_model import sample_pairs
from scoredream.world.render import WorldRenderConfig
from scoredream.world.shapes import COLOUR_NAMES, SHAPE_NAMES, prompt


def test_batches_follow_the_trainer_distribution_and_caption_rules(tmp_path):
    g = torch.Generator().manual_seed(0)
    bank = render_bank(8, g)
    bank.save(tmp_path / "bank.pt")
    bank = GeometryBank.load(tmp_path / "bank.pt")
    assert len(bank) == 8 * len(SHAPE_NAMES)
    assert bank.elevation.min() >= -10 and bank.elevation.max() <= 45  # CameraSamplerConfig() defaults
    batch = sample_batch(bank, 2000, g)
    assert batch.images.shape == (2000, 3, 32, 32)
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    n_view = n_plain = n_empty = 0
    for i, text in enumerate(batch.captions):
        base = prompt(COLOUR_NAMES[int(batch.colour[i])], SHAPE_NAMES[int(batch.shape[i])])
        if text == "":
            n_empty += 1
        elif text == base:
            n_plain += 1
        else:
            n_view += 1
            idx = torch.nonzero((bank.azimuth == batch.azimuth[i]) & (bank.shape == batch.shape[i]))[0, 0]
            assert text == base + view_suffix(float(bank.azimuth[idx]), float(bank.elevation[idx]))
    assert abs(n_view / 2000 - 0.7) < 0.04 and abs(n_plain / 2000 - 0.2) < 0.04 and abs(n_empty / 2000 - 0.1) < 0.03
    white = (batch.images[:, :, 0, 0] == 1).all(-1).float().mean()  # corners show the background
    assert 0.4 < white < 0.65


def test_a_bank_rendered_from_an_older_world_is_detected():
    """Training on renders of a shape that has since changed (the squat cylinder of an earlier world) must not
    pass silently: the bank re-traces a few of its views and names the shapes whose silhouettes moved."""
    bank = render_bank(2, torch.Generator().manual_seed(0))
    assert bank.stale_shapes() == []
    cyl = bank.shape == SHAPE_NAMES.index("cylinder")
    bank.alpha[cyl] = torch.nn.functional.max_pool2d(bank.alpha[cyl], 5, 1, 2)  # a fatter cylinder
    assert bank.stale_shapes() == ["cylinder"]


def test_shape_weights_oversample_one_shape_and_still_draw_the_others():
    """Both training draws (the text prior's batches, the novel-view prior's pairs) follow `shape_weights`."""
    generator = torch.Generator().manual_seed(0)
    bank = render_bank(20, generator, config=WorldRenderConfig(resolution=16))
    weights = torch.ones(len(SHAPE_NAMES))
    weights[SHAPE_NAMES.index("mug")] = 5.0  # 5 of 10 shares: half the draws
    for draw in (sample_batch, sample_pairs):
        shapes = draw(bank, 400, generator, shape_weights=weights).shape
        share = (shapes == SHAPE_NAMES.index("mug")).float().mean().item()
        assert 0.4 < share < 0.6, (draw.__name__, share)
        assert torch.bincount(shapes, minlength=len(SHAPE_NAMES)).min() > 20  # the others still drawn
