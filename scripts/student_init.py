"""Why the one-step student reads its noise at t = 907 on the embedded prior, not at the last timestep 999.

The student starts as the teacher's UNet and turns its prediction at (pure noise, t) into x0; for an epsilon model
x0 = (z - sqrt(1 - a) eps) / sqrt(a), which multiplies the UNet's error by sqrt((1 - a) / a). This prints, for the
teacher's one-step x0 from pure noise (no CFG, as the student runs) at several t: the judged accuracy of 4 samples x
48 prompts, the share of pixels outside [-1, 1], and the pixel noise (mean |difference| of vertical neighbours).

    python scripts/student_init.py
"""

from __future__ import annotations

import torch

from scoredream.distill2d import OneStepStudent
from scoredream.distill2d.evaluate import eval_texts
from scoredream.priors import load_prior
from scoredream.world.judge import judged_right, load_judge


@torch.no_grad()
def main() -> None:
    torch.set_num_threads(1)
    prior, judge = load_prior("embedded"), load_judge()
    texts = eval_texts(4)
    noise = torch.randn(len(texts), 3, prior.image_size, prior.image_size, generator=torch.Generator().manual_seed(0))
    print("| t | alpha_bar | error gain sqrt((1-a)/a) | judged accuracy | pixels outside [-1, 1] | pixel noise |")
    print("|---|---|---|---|---|---|")
    for t in (999, 958, 930, 907, 850, 800):
        student = OneStepStudent(prior.unet, prior, t)
        x0 = student(noise, prior.encode_text(texts))
        a = float(prior.alphas_cumprod[t])
        accuracy = float(judged_right(judge, prior.decode(x0), texts).float().mean())
        outside = float((x0.abs() > 1).float().mean())
        noisy = float((x0[..., 1:, :] - x0[..., :-1, :]).abs().mean())
        print(f"| {t} | {a:.2g} | {((1 - a) / a) ** 0.5:.3g} | {100 * accuracy:.1f}% | {100 * outside:.1f}% | "
              f"{noisy:.2f} |")


if __name__ == "__main__":
    main()
