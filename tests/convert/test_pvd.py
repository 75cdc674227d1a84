import math

import pytest
import torch
from pvd_scenes import box_teacher, convert_box, small_pvd
from torch import Tensor

from scoredream.convert import LOSSES_BY_STAGE, PVDConfig, distill, psnr, ssim
from scoredream.convert.pvd import clamped_match, log_density, raw_for_log_density
from scoredream.fields import Field, MLPConfig, TensoRFConfig
from scoredream.render.volume import RenderConfig
from scoredream.serialization import ConfigError


def test_stages_run_in_order_with_their_losses():
    cfg = small_pvd(10)
    rows = []
    result = distill(box_teacher(8), TensoRFConfig(resolution=8, density_rank=2, appearance_rank=2).setup(), cfg,
                     RenderConfig(num_samples=4), on_step=lambda s: rows.append((s.stage, s.losses)), progress=False)
    assert [stage for stage, _ in rows] == [1, 1, 2, 2, 3, 3, 3, 3, 3, 3]
    for stage, losses in rows:
        assert set(losses) - {"step", "stage", "loss"} == {*LOSSES_BY_STAGE[stage], "plane_l1"}
        assert all(math.isfinite(v) for v in losses.values())
    assert result.steps == 10 and result.history == [row for _, row in rows]
    assert cfg.feature_weight_at(2) == cfg.feature_weight > cfg.feature_weight_at(9)  # decays after stage 1


def test_stop_callback_ends_early_and_bad_stages_are_rejected():
    calls = iter(range(100))
    result = distill(box_teacher(8), MLPConfig(frequencies=1, depth=1, width=8).setup(), small_pvd(10),
                     RenderConfig(num_samples=4), should_stop=lambda: next(calls) >= 3, progress=False)
    assert result.stopped and result.steps == 3
    with pytest.raises(ConfigError, match="stages"):
        distill(box_teacher(8), MLPConfig().setup(), PVDConfig(feature_steps=50, sample_steps=10))
    with pytest.raises(ConfigError, match="density_weight=-0.1"):
        distill(box_teacher(8), MLPConfig().setup(), PVDConfig(density_weight=-0.1))
    with pytest.raises(ConfigError, match="color_weight=nan"):
        distill(box_teacher(8), MLPConfig().setup(), PVDConfig(color_weight=float("nan")))
    for bad in ({"hit_fraction": 1.5}, {"empty_fraction": -0.1}, {"bank_rays": -1}):
        with pytest.raises(ConfigError, match="hit_fraction and pvd.empty_fraction"):
            distill(box_teacher(8), MLPConfig().setup(), PVDConfig(**bad))


def test_short_conversion_reaches_psnr_floor():
    torch.manual_seed(0)
    student = TensoRFConfig(resolution=24, density_rank=4, appearance_rank=4).setup()
    _, before, after, similarity = convert_box(student, small_pvd(150))
    assert after > 30 and after > before + 8 and similarity > 0.9


class ExtremeTeacher(Field):
    """Raw density 1e30 (or inf) inside a ball: exp or squares of it overflow float32."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def encode(self, points: Tensor) -> Tensor:
        features = torch.zeros(points.shape[0], 16)
        features[:, 0] = torch.where(points.norm(dim=-1) < 0.4, self.value, -50.0)
        features[:, 1] = points[:, 0]
        return features


@pytest.mark.parametrize("value", [1e30, math.inf])
def test_density_clamp_keeps_an_extreme_teacher_finite(value):
    torch.manual_seed(0)
    student = MLPConfig(frequencies=2, depth=2, width=16, skip=0).setup()
    result = distill(ExtremeTeacher(value), student, small_pvd(15), RenderConfig(num_samples=8), progress=False)
    assert all(math.isfinite(v) for row in result.history for v in row.values())
    assert all(torch.isfinite(p).all() for p in student.parameters())
    # The clamped targets still say "opaque inside, empty outside".
    d = student.density(torch.tensor([[0.0, 0, 0], [0.9, 0.0, 0.0]]))
    assert d[0] > d[1]


def test_clamped_density_targets():
    lo, hi = -2.0, 7.0
    assert math.isclose(log_density(torch.tensor(raw_for_log_density(hi))).item(), hi, abs_tol=1e-4)
    assert math.isclose(log_density(torch.tensor(raw_for_log_density(lo))).item(), lo, abs_tol=1e-4)
    raw = torch.tensor([-1e4, 0.0, 5.0], requires_grad=True)
    log_density(raw).sum().backward()
    assert torch.isfinite(raw.grad).all() and raw.grad[0] == 1.0  # no underflow to log(0)
    student = torch.tensor([-5.0, 3.0, 9.0, 0.5])
    teacher = torch.tensor([-50.0, -50.0, math.inf, 0.0])
    # Below an empty target is right; above an opaque target is right; only the rest is penalised.
    assert torch.isclose(clamped_match(student, teacher, lo, hi), torch.tensor((5.0**2 + 0.5**2) / 4))


def test_metrics():
    a = torch.rand(2, 16, 16, 3)
    assert psnr(a, a) == math.inf and math.isclose(ssim(a, a), 1.0, rel_tol=1e-5)
    assert math.isclose(psnr(a, (a + 0.1).clamp(0, 1)), psnr(a, (a - 0.1).clamp(0, 1)), rel_tol=0.5)
    assert ssim(a, torch.rand(2, 16, 16, 3)) < 0.2
