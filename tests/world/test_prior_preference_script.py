"""scripts/prior_preference.py: its SDS energy is the line integral of SDS's own gradient, and on the shipped prior
it tells a mug from a cylinder."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor

from scoredream.guidance.perp_neg import TextConditions

SCRIPT = Path(__file__).parents[2] / "scripts" / "prior_preference.py"
ALPHA_BAR = 0.5  # at every t: then w(t) sqrt(alpha_bar / (1 - alpha_bar)) = 0.5


class PointMassPrior:
    """The exact noise prediction of data that is one image m (m_c given the text, m_u without):
    eps_hat(x_t) = (x_t - sqrt(a) m) / sqrt(1 - a), so SDS's gradient w (eps_hat - eps) = 0.5 (x - m) is the
    gradient of the energy 0.25 |x - m|^2, and a straight path's line integral is known exactly."""

    def __init__(self, m_c: Tensor, m_u: Tensor) -> None:
        self.m_c, self.m_u = m_c, m_u
        self.alphas_cumprod = torch.full((1000,), ALPHA_BAR)

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        return ALPHA_BAR**0.5 * x0 + (1 - ALPHA_BAR) ** 0.5 * noise

    def predict_noise(self, x_t: Tensor, t: Tensor, text: Tensor, camera: Tensor | None) -> Tensor:
        copies = len(x_t) // len(self.m_c)  # the script asks for (cond; uncond) in one call
        conditional = text.flatten(1).mean(1).view(-1, 1, 1, 1) > 0.5
        m = torch.where(conditional, self.m_c.repeat(copies, 1, 1, 1), self.m_u.repeat(copies, 1, 1, 1))
        return (x_t - ALPHA_BAR**0.5 * m) / (1 - ALPHA_BAR) ** 0.5


def energy(x: Tensor, m: Tensor) -> Tensor:
    return 0.25 * (x - m).square().flatten(1).sum(1)


def test_the_sds_energy_change_is_exact_for_a_known_potential() -> None:
    script = runpy.run_path(str(SCRIPT))
    g = torch.Generator().manual_seed(0)
    m_c, m_u, truth, other = (torch.randn(4, 3, 8, 8, generator=g) for _ in range(4))
    prior = PointMassPrior(m_c, m_u)
    conditions = TextConditions(torch.ones(4, 2, 5), torch.zeros(4, 2, 5))
    out = script["measure"](prior, {"truth": truth, "other": other}, conditions, 2, 1, 3, g)["other"]
    d_u = energy(other, m_u) - energy(truth, m_u)
    d_c = energy(other, m_c) - energy(truth, m_c)
    torch.testing.assert_close(out[:, 2], d_u.expand(2, -1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[:, 3], (d_c - d_u).expand(2, -1), rtol=1e-4, atol=1e-4)
    # A set nearer the data has lower energy: SDS moves the truth towards it.
    nearer = {"truth": truth, "nearer": 0.5 * (truth + m_c)}
    out = script["measure"](prior, nearer, conditions, 1, 1, 2, g)["nearer"]
    assert (out[:, 2] + out[:, 3] < 0).all()
    assert (out[:, 0] < (truth - m_c).square().flatten(1).mean(1)).all()  # L_c: nearer m_c, smaller error


def test_the_shipped_prior_prefers_a_mug_to_a_cylinder_when_asked_for_a_mug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "a cyan mug", "--shapes", "cylinder", "--views", "8",
                                      "--bins", "2", "--steps", "1", "--threads", "1",
                                      "--cavity-fills", "0", "1"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    text = capsys.readouterr().out
    energies = text.split("SDS energy change")[1].split("The same by t")[0]
    rows = dict(re.findall(r"^\| ([^|]+?) \|(.*)$", energies, re.M))
    assert {"true cylinder", "mug without handle", "filled mug without handle"} <= set(rows)
    cylinder_at_cfg_75 = float(rows["true cylinder"].split("|")[4].split()[0])
    assert cylinder_at_cfg_75 > 0  # SDS would climb from the true mug to a cylinder: the prior knows them apart
    # The cavity's fills run from the truth (no change: zero energy) to the filled mug (the same images and noise).
    unfilled = [float(v) for v in re.findall(r"[+-]?\d+\.\d+", rows["mug, cavity filled to 0 of its depth"])]
    assert len(unfilled) == 10 and not any(unfilled)  # dE_u, dE_cls and three scales, each with its s.e.
    assert rows["mug, cavity filled to 1 of its depth"] == rows["filled mug"]
